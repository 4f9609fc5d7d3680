"""ChatService: room access and messages, over the repository. Knows nothing of Socket.IO."""

import logging
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from server.chat.errors import (
    ForbiddenError,
    InvalidPayloadError,
    MessageTooLargeError,
    RoomNotFoundError,
)
from server.chat.events import FetchHistoryPayload, SendMessagePayload
from server.config import RoomConfig
from server.identity import Identity
from server.storage import ChatRepository, MessageWriter, NewMessage, StoredMessage

logger = logging.getLogger(__name__)

MAX_CACHED_USERS = 100_000
UserKey = tuple[str, str]


class UserCache:
    """Recently seen users' ``(id, name)``: a message from a known user costs no user query."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[UserKey, tuple[int, str]] = OrderedDict()

    def get(self, key: UserKey) -> tuple[int, str] | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: UserKey, entry: tuple[int, str]) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)


class ChatService:
    """The chat's rules: who may see which room, what a valid message is, where it is stored."""

    def __init__(
        self, engine: AsyncEngine, rooms: Sequence[RoomConfig], max_message_chars: int
    ) -> None:
        self._repository = ChatRepository(engine)
        self._writer = MessageWriter(engine, self._repository, self._room_slug)
        self._users = UserCache(MAX_CACHED_USERS)
        self._rooms = {room.slug: room for room in rooms}
        self._room_ids: dict[str, int] = {}
        self._room_slugs: dict[int, str] = {}
        self._max_chars = max_message_chars

    async def start(self) -> None:
        """Make the configured rooms exist in the database; start the message writer."""
        self._room_ids = await self._repository.sync_rooms(
            [(room.slug, room.name) for room in self._rooms.values()]
        )
        self._room_slugs = {room_id: slug for slug, room_id in self._room_ids.items()}
        self._writer.start()

    async def stop(self) -> None:
        await self._writer.stop()

    def _room_slug(self, room_id: int) -> str:
        return self._room_slugs.get(room_id, "")

    async def register(self, identity: Identity) -> int:
        """The user's id (the row is made on the first message, and its name kept current)."""
        cached = self._users.get(identity.key)
        if cached is not None and cached[1] == identity.name:
            return cached[0]
        user_id = await self._repository.upsert_user(
            identity.issuer, identity.subject, identity.name
        )
        self._users.put(identity.key, (user_id, identity.name))
        return user_id

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
        self, identity: Identity, payload: SendMessagePayload
    ) -> tuple[StoredMessage, bool]:
        """Store a message from the verified identity; returns it and whether it is new.

        Raises:
            InvalidPayloadError (invalid_request): empty or unencodable text.
            MessageTooLargeError (message_too_large), RoomNotFoundError, ForbiddenError.
        """
        room = self.room(identity, payload.room)
        _check_text(payload.text, self._max_chars)
        user_id = await self.register(identity)
        message = NewMessage(
            room_id=self._room_ids[room.slug],
            sender_id=user_id,
            text=payload.text,
            client_id=payload.client_id,
            sender_issuer=identity.issuer,
            sender_subject=identity.subject,
            sender_session_id=identity.session_id,
        )
        return await self._writer.post(message, identity.name)

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
