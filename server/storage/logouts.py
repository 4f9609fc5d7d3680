"""LogoutRepository: back-channel logouts, kept so they survive a restart."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, delete, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage.changes import mark
from server.storage.models import Logout, as_utc, metadata

LOGOUTS: Table = metadata.tables[Logout.__tablename__]


@dataclass(frozen=True, slots=True)
class LogoutRecord:
    issuer: str
    jti: str
    subject: str | None
    session_id: str | None
    issued_at: float


@dataclass(frozen=True, slots=True)
class StoredLogouts:
    """One read of the table: the logouts it returned (by id), and the database's clock just
    before the read (every logout committed by then is among them)."""

    read_at: datetime
    logouts: list[tuple[int, LogoutRecord]]


def _timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _seconds(value: datetime) -> float:
    return as_utc(value).timestamp()


class LogoutRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, logout: LogoutRecord) -> int | None:
        """Store a logout; returns its id, or None when its ``(issuer, jti)`` was seen (a replay).

        ``received_at`` is the database's clock, the one ``since`` reads: one clock for every
        server process, however far their own clocks drift.
        """
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    insert(LOGOUTS)
                    .values(
                        issuer=logout.issuer,
                        jti=logout.jti,
                        subject=logout.subject,
                        session_id=logout.session_id,
                        issued_at=_timestamp(logout.issued_at),
                        received_at=func.now(),
                    )
                    .returning(LOGOUTS.c.id)
                )
                mark(conn, "logouts")
                return int(result.scalar_one())
        except IntegrityError:
            return None

    async def since(self, after_id: int, stored_from: datetime | None = None) -> StoredLogouts:
        """Logouts with an id above ``after_id`` or received at or after ``stored_from``."""
        where: ColumnElement[bool] = LOGOUTS.c.id > after_id
        if stored_from is not None:
            where = or_(where, LOGOUTS.c.received_at >= stored_from)
        async with self._engine.connect() as conn:
            # The clock first: the query below then sees at least what was committed by then.
            read_at = as_utc((await conn.execute(select(func.now()))).scalar_one())
            rows = await conn.execute(select(LOGOUTS).where(where).order_by(LOGOUTS.c.id))
            return StoredLogouts(read_at, [(int(row.id), _record(row)) for row in rows])

    async def prune(self, older_than: float) -> int:
        """Forget logouts older than any token that could still be presented."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(LOGOUTS).where(LOGOUTS.c.issued_at < _timestamp(older_than))
            )
            return int(result.rowcount or 0)


def _record(row: Row[Any]) -> LogoutRecord:
    return LogoutRecord(
        issuer=row.issuer,
        jti=row.jti,
        subject=row.subject,
        session_id=row.session_id,
        issued_at=_seconds(row.issued_at),
    )
