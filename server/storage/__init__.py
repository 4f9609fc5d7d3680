"""Storage: SQL tables, the async engine, migrations and the chat repository."""

from server.storage.audit import (
    GENESIS_HASH,
    AuditEntryRefusedError,
    AuditRecord,
    AuditRepository,
    NewAuditEntry,
)
from server.storage.changes import on_commit
from server.storage.database import create_engine, ping
from server.storage.errors import StorageError, StorageUnavailableError
from server.storage.logouts import LogoutRecord, LogoutRepository
from server.storage.migrate import check_schema, upgrade
from server.storage.presence import PresenceRepository, StoredNode
from server.storage.registry import RegistryRepository, StoredProvider
from server.storage.repository import ChatRepository, NewMessage, StoredMessage
from server.storage.rooms import RoomInUseError, RoomRepository, StoredRoom
from server.storage.users import SeenUser, StoredUser, UserRepository
from server.storage.writer import MessageWriter

__all__ = [
    "GENESIS_HASH",
    "AuditEntryRefusedError",
    "AuditRecord",
    "AuditRepository",
    "ChatRepository",
    "LogoutRecord",
    "LogoutRepository",
    "MessageWriter",
    "NewAuditEntry",
    "NewMessage",
    "PresenceRepository",
    "RegistryRepository",
    "RoomInUseError",
    "RoomRepository",
    "SeenUser",
    "StorageError",
    "StorageUnavailableError",
    "StoredMessage",
    "StoredNode",
    "StoredProvider",
    "StoredRoom",
    "StoredUser",
    "UserRepository",
    "check_schema",
    "create_engine",
    "on_commit",
    "ping",
    "upgrade",
]
