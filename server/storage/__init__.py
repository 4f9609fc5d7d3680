"""Storage: SQL tables, the async engine, migrations and the chat repository."""

from server.storage.database import create_engine, ping
from server.storage.errors import StorageError, StorageUnavailableError
from server.storage.logouts import LogoutRecord, LogoutRepository
from server.storage.migrate import check_schema, upgrade
from server.storage.repository import ChatRepository, NewMessage, StoredMessage
from server.storage.writer import MessageWriter

__all__ = [
    "ChatRepository",
    "LogoutRecord",
    "LogoutRepository",
    "MessageWriter",
    "NewMessage",
    "StorageError",
    "StorageUnavailableError",
    "StoredMessage",
    "check_schema",
    "create_engine",
    "ping",
    "upgrade",
]
