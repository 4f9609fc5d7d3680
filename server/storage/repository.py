"""ChatRepository: every SQL statement of the chat, behind plain values (no ORM objects escape)."""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.storage.models import Message, Room, User, as_utc, metadata, utcnow

logger = logging.getLogger(__name__)

USERS: Table = metadata.tables[User.__tablename__]
ROOMS: Table = metadata.tables[Room.__tablename__]
MESSAGES: Table = metadata.tables[Message.__tablename__]


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store; the sender fields come from the verified identity, never the payload."""

    room_id: int
    sender_id: int
    text: str
    client_id: str | None
    sender_issuer: str
    sender_subject: str
    sender_session_id: str | None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    room_slug: str
    text: str
    created_at: datetime
    client_id: str | None
    sender_id: int
    sender_issuer: str
    sender_subject: str
    sender_name: str


class ChatRepository:
    """Users, rooms and messages on one async engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def upsert_user(self, issuer: str, subject: str, name: str) -> int:
        """The user's id, creating the row on first sight and keeping the name current."""
        async with self._engine.begin() as conn:
            row = await self._find_user(conn, issuer, subject)
            if row is not None:
                if row.name != name:
                    await conn.execute(
                        update(USERS)
                        .where(USERS.c.id == row.id)
                        .values(name=name, updated_at=utcnow())
                    )
                return int(row.id)
        try:
            async with self._engine.begin() as conn:
                now = utcnow()
                result = await conn.execute(
                    insert(USERS)
                    .values(
                        issuer=issuer, subject=subject, name=name, created_at=now, updated_at=now
                    )
                    .returning(USERS.c.id)
                )
                return int(result.scalar_one())
        except IntegrityError:  # a concurrent first connect of the same user won the race
            async with self._engine.connect() as conn:
                row = await self._find_user(conn, issuer, subject)
                assert row is not None
                return int(row.id)

    @staticmethod
    async def _find_user(conn: AsyncConnection, issuer: str, subject: str) -> Any:
        result = await conn.execute(
            select(USERS.c.id, USERS.c.name).where(
                and_(USERS.c.issuer == issuer, USERS.c.subject == subject)
            )
        )
        return result.first()

    async def post_message(self, message: NewMessage) -> tuple[StoredMessage, bool]:
        """Store a message once per ``(sender, client_id)``; returns it and whether it is new.

        The row is committed when this returns: the caller may ack it.
        """
        if message.client_id is not None:
            found = await self._find_by_client_id(message.sender_id, message.client_id)
            if found is not None:
                return found, False
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    insert(MESSAGES)
                    .values(
                        room_id=message.room_id,
                        sender_id=message.sender_id,
                        text=message.text,
                        client_id=message.client_id,
                        created_at=utcnow(),
                        sender_issuer=message.sender_issuer,
                        sender_subject=message.sender_subject,
                        sender_session_id=message.sender_session_id,
                    )
                    .returning(MESSAGES.c.id)
                )
                message_id = int(result.scalar_one())
        except IntegrityError:
            if message.client_id is None:
                raise
            found = await self._find_by_client_id(message.sender_id, message.client_id)
            if found is None:
                raise
            return found, False
        stored = await self._messages(MESSAGES.c.id == message_id, limit=1)
        return stored[0], True

    async def _find_by_client_id(self, sender_id: int, client_id: str) -> StoredMessage | None:
        found = await self._messages(
            and_(MESSAGES.c.sender_id == sender_id, MESSAGES.c.client_id == client_id), limit=1
        )
        return found[0] if found else None

    async def history(
        self, room_id: int, *, before: int | None, after: int | None, limit: int
    ) -> tuple[list[StoredMessage], bool]:
        """Up to ``limit`` messages of a room in ascending id order, and whether more exist.

        ``before`` pages backwards (the newest messages older than it); ``after`` forwards.
        """
        condition = MESSAGES.c.room_id == room_id
        if before is not None:
            condition = and_(condition, MESSAGES.c.id < before)
        if after is not None:
            condition = and_(condition, MESSAGES.c.id > after)
        newest_first = after is None
        rows = await self._messages(condition, limit=limit + 1, newest_first=newest_first)
        has_more = len(rows) > limit
        rows = rows[:limit]
        return (list(reversed(rows)) if newest_first else rows), has_more

    async def stored_since(self, since: datetime, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages of any room stored at or after ``since``, oldest first."""
        return await self._messages(MESSAGES.c.created_at >= since, limit=limit)

    async def _messages(
        self, condition: Any, *, limit: int, newest_first: bool = False
    ) -> list[StoredMessage]:
        order = MESSAGES.c.id.desc() if newest_first else MESSAGES.c.id.asc()
        query = (
            select(
                MESSAGES.c.id,
                ROOMS.c.slug,
                MESSAGES.c.text,
                MESSAGES.c.created_at,
                MESSAGES.c.client_id,
                MESSAGES.c.sender_id,
                MESSAGES.c.sender_issuer,
                MESSAGES.c.sender_subject,
                USERS.c.name,
            )
            .join(ROOMS, ROOMS.c.id == MESSAGES.c.room_id)
            .join(USERS, USERS.c.id == MESSAGES.c.sender_id)
            .where(condition)
            .order_by(order)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            result = await conn.execute(query)
            return [_stored(row) for row in result]


def _stored(row: Any) -> StoredMessage:
    return StoredMessage(
        id=int(row.id),
        room_slug=row.slug,
        text=row.text,
        created_at=as_utc(row.created_at),
        client_id=row.client_id,
        sender_id=int(row.sender_id),
        sender_issuer=row.sender_issuer,
        sender_subject=row.sender_subject,
        sender_name=row.name,
    )
