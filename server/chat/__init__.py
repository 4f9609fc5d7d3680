"""Chat: payloads, room rules and the Socket.IO namespace."""

from server.chat.curation import RoomCuration
from server.chat.rooms import RoomDirectory
from server.chat.service import ChatService
from server.chat.transport import ChatNamespace

__all__ = ["ChatNamespace", "ChatService", "RoomCuration", "RoomDirectory"]
