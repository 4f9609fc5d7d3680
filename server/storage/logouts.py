"""LogoutRepository: back-channel logouts, kept so they survive a restart."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage.models import Logout, as_utc, metadata, utcnow

LOGOUTS: Table = metadata.tables[Logout.__tablename__]


@dataclass(frozen=True, slots=True)
class LogoutRecord:
    issuer: str
    jti: str
    subject: str | None
    session_id: str | None
    issued_at: float


def _timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _seconds(value: datetime) -> float:
    return as_utc(value).timestamp()


class LogoutRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, logout: LogoutRecord) -> int | None:
        """Store a logout; returns its id, or None when its ``(issuer, jti)`` was seen (a replay)."""
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
                        received_at=utcnow(),
                    )
                    .returning(LOGOUTS.c.id)
                )
                return int(result.scalar_one())
        except IntegrityError:
            return None

    async def since(self, after_id: int) -> list[tuple[int, LogoutRecord]]:
        """Logouts stored after ``after_id`` (by any server sharing the database), oldest first."""
        query = select(LOGOUTS).where(LOGOUTS.c.id > after_id).order_by(LOGOUTS.c.id)
        async with self._engine.connect() as conn:
            return [
                (
                    int(row.id),
                    LogoutRecord(
                        issuer=row.issuer,
                        jti=row.jti,
                        subject=row.subject,
                        session_id=row.session_id,
                        issued_at=_seconds(row.issued_at),
                    ),
                )
                for row in await conn.execute(query)
            ]

    async def prune(self, older_than: float) -> int:
        """Forget logouts older than any token that could still be presented."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(LOGOUTS).where(LOGOUTS.c.issued_at < _timestamp(older_than))
            )
            return int(result.rowcount or 0)
