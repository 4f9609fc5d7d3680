"""ChatService: room access and messages, over the repository. Knows nothing of Socket.IO."""

import logging
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any, Protocol

from server.chat.errors import (
    ForbiddenError,
    InvalidPayloadError,
    MessageTooLargeError,
    RoomNotFoundError,
)
from server.chat.events import FetchHistoryPayload, SendMessagePayload
from server.chat.rooms import RoomDirectory
from server.config import RoomConfig
from server.identity import Identity
from server.sessions import LiveSession, SessionService
from server.storage import (
    ChatRepository,
    MessageWriter,
    NewMessage,
    RoomRepository,
    StoredMessage,
)

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


class RoomTransport(Protocol):
    """Implemented by the Socket.IO adapter: re-check every live socket's rooms."""

    async def rooms_changed(self) -> None: ...


class _Detached:
    async def rooms_changed(self) -> None:
        return None


class ChatService:
    """The chat's rules: who may see which room, what a valid message is, where it is stored."""

    def __init__(
        self,
        repository: ChatRepository,
        room_store: RoomRepository,
        writer: MessageWriter,
        rooms: RoomDirectory,
        sessions: SessionService,
        max_message_chars: int,
    ) -> None:
        self._repository = repository
        self._room_store = room_store
        self._room_revision: int | None = None
        self._transport: RoomTransport = _Detached()
        self._writer = writer
        self._rooms = rooms
        self._sessions = sessions
        self._users = UserCache(MAX_CACHED_USERS)
        self._max_chars = max_message_chars

    def attach(self, transport: "RoomTransport") -> None:
        self._transport = transport

    async def start(self) -> None:
        """Seed the file's rooms the table lacks, load the table; start the message writer."""
        await self._room_store.seed(self._rooms.seeds())
        await self.reload_rooms()
        self._writer.start()

    async def reload_rooms(self) -> None:
        """Apply the rooms table; live sockets lose the rooms they may no longer see."""
        revision = await self._room_store.revision()
        self._rooms.replace(await self._room_store.rooms())
        self._room_revision = revision
        await self._transport.rooms_changed()

    async def sync_rooms(self, revision: int | None = None) -> None:
        """Apply room changes made by any process since the last look (``revision``: the rooms
        revision, when the caller has just read it)."""
        if revision is None:
            revision = await self._room_store.revision()
        if revision != self._room_revision:
            await self.reload_rooms()

    async def stop(self) -> None:
        await self._writer.stop()

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
        return [room for room in self._rooms.all() if _may_access(identity, room)]

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

    async def send(
        self, session: LiveSession, payload: SendMessagePayload
    ) -> tuple[StoredMessage, bool]:
        """A live session sends a message: the session's send rules, then ``post``.

        Raises:
            SessionExpiredError (token_expired), RateLimitedError (rate_limited), and what
            ``post`` raises.
        """
        await self._sessions.check_can_send(session)
        return await self.post(session.identity, payload)

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
            room_id=self._rooms.id_of(room.slug),
            sender_id=user_id,
            text=payload.text,
            client_id=payload.client_id,
            sender_issuer=identity.issuer,
            sender_subject=identity.subject,
            sender_session_id=identity.session_id,
        )
        return await self._writer.post(message, identity.name)

    async def settle(self, within: float) -> bool:
        """Let the messages already sent be committed (and so acked), for at most ``within`` s."""
        return await self._writer.settle(within)

    async def stored_since(self, since: float, limit: int) -> list[StoredMessage]:
        """Messages of any room stored at or after ``since`` (epoch seconds), oldest first: what
        a cluster node delivers again after a gap in its subscription (to the sockets that
        joined each room, as a live broadcast would)."""
        return await self._repository.stored_since(datetime.fromtimestamp(since, UTC), limit)

    async def history(
        self, identity: Identity, payload: FetchHistoryPayload
    ) -> tuple[list[StoredMessage], bool]:
        room = self.room(identity, payload.room)
        return await self._repository.history(
            self._rooms.id_of(room.slug),
            before=payload.before,
            after=payload.after,
            limit=payload.limit,
        )


def _may_access(identity: Identity, room: RoomConfig) -> bool:
    if room.archived:
        return False
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
