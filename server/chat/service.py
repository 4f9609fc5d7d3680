"""ChatService: room access and messages, over the repository. Knows nothing of Socket.IO."""

import logging
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from server.chat.errors import (
    ForbiddenError,
    InvalidPayloadError,
    MessageTooLargeError,
    RoomNotFoundError,
)
from server.chat.events import FetchHistoryPayload, SendMessagePayload
from server.config import RoomConfig
from server.identity import Identity
from server.storage import ChatRepository, NewMessage, StoredMessage

logger = logging.getLogger(__name__)


class ChatService:
    """The chat's rules: who may see which room, what a valid message is, where it is stored."""

    def __init__(
        self, repository: ChatRepository, rooms: Sequence[RoomConfig], max_message_chars: int
    ) -> None:
        self._repository = repository
        self._rooms = {room.slug: room for room in rooms}
        self._room_ids: dict[str, int] = {}
        self._max_chars = max_message_chars

    async def start(self) -> None:
        """Make the configured rooms exist in the database."""
        self._room_ids = await self._repository.sync_rooms(
            [(room.slug, room.name) for room in self._rooms.values()]
        )

    async def register(self, identity: Identity) -> int:
        """The user's id for a verified identity (created on first connect, name kept current)."""
        return await self._repository.upsert_user(identity.issuer, identity.subject, identity.name)

    def may_access(self, identity: Identity, slug: str) -> bool:
        room = self._rooms.get(slug)
        return room is not None and _may_access(identity, room)

    def visible_rooms(self, identity: Identity) -> list[RoomConfig]:
        return [room for room in self._rooms.values() if _may_access(identity, room)]

    def room(self, identity: Identity, slug: str) -> RoomConfig:
        """The room, if this identity may access it.

        Raises:
            RoomNotFoundError (room_not_found), ForbiddenError (forbidden).
        """
        room = self._rooms.get(slug)
        if room is None:
            raise RoomNotFoundError(slug)
        if not _may_access(identity, room):
            raise ForbiddenError(f"{identity.subject} is not in {room.allowed_groups}")
        return room

    async def post(
        self, identity: Identity, user_id: int, payload: SendMessagePayload
    ) -> tuple[StoredMessage, bool]:
        """Store a message from the verified identity; returns it and whether it is new.

        Raises:
            InvalidPayloadError (invalid_request): empty or unencodable text.
            MessageTooLargeError (message_too_large), RoomNotFoundError, ForbiddenError.
        """
        room = self.room(identity, payload.room)
        _check_text(payload.text, self._max_chars)
        return await self._repository.post_message(
            NewMessage(
                room_id=self._room_ids[room.slug],
                sender_id=user_id,
                text=payload.text,
                client_id=payload.client_id,
                sender_issuer=identity.issuer,
                sender_subject=identity.subject,
                sender_session_id=identity.session_id,
            )
        )

    async def history(
        self, identity: Identity, payload: FetchHistoryPayload
    ) -> tuple[list[StoredMessage], bool]:
        room = self.room(identity, payload.room)
        return await self._repository.history(
            self._room_ids[room.slug],
            before=payload.before,
            after=payload.after,
            limit=payload.limit,
        )


def _may_access(identity: Identity, room: RoomConfig) -> bool:
    return not room.allowed_groups or not identity.groups.isdisjoint(room.allowed_groups)


def _check_text(text: str, max_chars: int) -> None:
    if not text.strip():
        raise InvalidPayloadError("empty text")
    if len(text) > max_chars:
        raise MessageTooLargeError(f"{len(text)} > {max_chars} characters")
    if "\x00" in text:
        raise InvalidPayloadError("NUL in text")  # PostgreSQL text cannot hold it
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates from JSON "\ud800" escapes
        raise InvalidPayloadError("text is not valid Unicode") from exc


def message_view(message: StoredMessage) -> dict[str, Any]:
    """The public shape M of a stored message."""
    created = message.created_at.astimezone(UTC).isoformat(timespec="milliseconds")
    return {
        "id": message.id,
        "room": message.room_slug,
        "text": message.text,
        "created_at": created.replace("+00:00", "Z"),
        "client_id": message.client_id,
        "sender": {
            "id": message.sender_id,
            "issuer": message.sender_issuer,
            "subject": message.sender_subject,
            "name": message.sender_name,
        },
    }
