"""Chat: payloads, room rules and the Socket.IO namespace."""

from server.chat.curation import RoomCuration
from server.chat.events import MESSAGE_POSTED
from server.chat.rooms import RoomDirectory
from server.chat.service import ChatService, message_view
from server.chat.transport import ChatNamespace, socket_room

__all__ = [
    "MESSAGE_POSTED",
    "ChatNamespace",
    "ChatService",
    "RoomCuration",
    "RoomDirectory",
    "message_view",
    "socket_room",
]
