"""UserRepository: the people the server has seen, their last sign-in, and who is blocked."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage.models import User, as_utc, metadata, utcnow
from server.storage.registry import bump, read_revision

USERS: Table = metadata.tables[User.__tablename__]


@dataclass(frozen=True, slots=True)
class SeenUser:
    """A verified sign-in, as recorded: who, through which provider, with which groups, when."""

    issuer: str
    subject: str
    provider_id: str
    name: str
    groups: tuple[str, ...]
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class StoredUser:
    id: int
    issuer: str
    subject: str
    provider_id: str | None
    name: str
    groups: tuple[str, ...]
    created_at: datetime
    last_seen_at: datetime | None
    blocked_at: datetime | None


class UserRepository:
    """Users on one async engine (the chat's repository adds them on a first message too)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record_seen(self, seen: Sequence[SeenUser]) -> None:
        """Create or update each user's row with their latest sign-in: two statements, each run
        for the whole batch, in one transaction (a reconnect storm is one short write)."""
        if not seen:
            return
        rows = [_seen_row(user) for user in seen]
        async with self._engine.begin() as conn:
            insert_new = _insert_ignoring_existing(conn.dialect.name)
            await conn.execute(insert_new, rows)
            await conn.execute(_UPDATE_SEEN, rows)

    async def search(self, query: str | None, after: int, limit: int) -> list[StoredUser]:
        """Users with id > ``after`` in id order; ``query`` matches name or subject (any case)."""
        statement = select(USERS).where(USERS.c.id > after).order_by(USERS.c.id).limit(limit)
        if query:
            pattern = (
                "%"
                + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                + "%"
            )
            statement = statement.where(
                or_(
                    func.lower(USERS.c.name).like(pattern, escape="\\"),
                    func.lower(USERS.c.subject).like(pattern, escape="\\"),
                )
            )
        async with self._engine.connect() as conn:
            return [_stored(row) for row in await conn.execute(statement)]

    async def all_groups(self, limit: int) -> list[tuple[str, ...]]:
        """The groups of up to ``limit`` known users (most recently seen first)."""
        statement = (
            select(USERS.c.groups)
            .order_by(USERS.c.last_seen_at.desc().nulls_last(), USERS.c.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).scalars()
            return [tuple(json.loads(raw)) if raw else () for raw in rows]

    async def get(self, user_id: int) -> StoredUser | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(USERS).where(USERS.c.id == user_id))).first()
            return None if row is None else _stored(row)

    async def set_blocked(self, user_id: int, blocked: bool) -> StoredUser | None:
        """Block or unblock; counted as a ``users`` revision so every process reloads blocks."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(USERS)
                .where(USERS.c.id == user_id)
                .values(blocked_at=utcnow() if blocked else None)
            )
            if result.rowcount != 1:
                return None
            await bump(conn, "users")
        return await self.get(user_id)

    async def revision(self) -> int:
        """How many block changes were ever made (any process)."""
        return await read_revision(self._engine, "users")

    async def blocked(self) -> set[tuple[str, str]]:
        """``(issuer, subject)`` of every blocked user."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(USERS.c.issuer, USERS.c.subject).where(USERS.c.blocked_at.is_not(None))
            )
            return {(row.issuer, row.subject) for row in rows}


_UPDATE_SEEN = (
    update(USERS)
    .where(and_(USERS.c.issuer == bindparam("b_issuer"), USERS.c.subject == bindparam("b_subject")))
    .values(
        provider_id=bindparam("b_provider_id"),
        name=bindparam("b_name"),
        groups=bindparam("b_groups"),
        last_seen_at=bindparam("b_seen_at"),
    )
)


def _insert_ignoring_existing(dialect: str) -> Any:
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(USERS)
        .values(
            issuer=bindparam("b_issuer"),
            subject=bindparam("b_subject"),
            provider_id=bindparam("b_provider_id"),
            name=bindparam("b_name"),
            groups=bindparam("b_groups"),
            last_seen_at=bindparam("b_seen_at"),
            created_at=bindparam("b_seen_at"),
            updated_at=bindparam("b_seen_at"),
        )
        .on_conflict_do_nothing(index_elements=["issuer", "subject"])
    )


def _seen_row(user: SeenUser) -> dict[str, Any]:
    return {
        "b_issuer": user.issuer,
        "b_subject": user.subject,
        "b_provider_id": user.provider_id,
        "b_name": user.name,
        "b_groups": json.dumps(list(user.groups)),
        "b_seen_at": user.seen_at,
    }


def _stored(row: Any) -> StoredUser:
    groups = json.loads(row.groups) if row.groups else []
    return StoredUser(
        id=int(row.id),
        issuer=row.issuer,
        subject=row.subject,
        provider_id=row.provider_id,
        name=row.name,
        groups=tuple(g for g in groups if isinstance(g, str)),
        created_at=as_utc(row.created_at),
        last_seen_at=None if row.last_seen_at is None else as_utc(row.last_seen_at),
        blocked_at=None if row.blocked_at is None else as_utc(row.blocked_at),
    )
