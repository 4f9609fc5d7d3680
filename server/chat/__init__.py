"""Chat: payloads, room rules and the Socket.IO namespace."""

from server.chat.service import ChatService
from server.chat.transport import ChatNamespace

__all__ = ["ChatNamespace", "ChatService"]
