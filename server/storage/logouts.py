"""LogoutRepository: back-channel logouts, kept so they survive a restart."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Table, and_, delete, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage.models import Logout, metadata, utcnow

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


class LogoutRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, logout: LogoutRecord) -> bool:
        """Store a logout; False when its ``(issuer, jti)`` was seen before (a replay)."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(LOGOUTS).values(
                        issuer=logout.issuer,
                        jti=logout.jti,
                        subject=logout.subject,
                        session_id=logout.session_id,
                        issued_at=_timestamp(logout.issued_at),
                        received_at=utcnow(),
                    )
                )
        except IntegrityError:
            return False
        return True

    async def is_revoked(
        self, issuer: str, subject: str, session_id: str | None, issued_at: float
    ) -> bool:
        """Whether a logout at or after ``issued_at`` covers this session or this whole subject.

        A logout naming a ``sid`` ends that session; one naming only ``sub`` ends all of the
        subject's sessions.
        """
        covers = and_(LOGOUTS.c.subject == subject, LOGOUTS.c.session_id.is_(None))
        if session_id is not None:
            covers = or_(covers, LOGOUTS.c.session_id == session_id)
        query = (
            select(LOGOUTS.c.id)
            .where(
                and_(
                    LOGOUTS.c.issuer == issuer,
                    covers,
                    LOGOUTS.c.issued_at >= _timestamp(issued_at),
                )
            )
            .limit(1)
        )
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    async def prune(self, older_than: float) -> int:
        """Forget logouts older than any token that could still be presented."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(LOGOUTS).where(LOGOUTS.c.issued_at < _timestamp(older_than))
            )
            return int(result.rowcount or 0)
