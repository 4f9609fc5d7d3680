"""Stored logouts on SQLite and PostgreSQL: replays refused, followed across processes, pruned."""

import time
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage import LogoutRecord, LogoutRepository


def record(
    jti: str, *, sub: str | None = "alice", sid: str | None = None, at: float | None = None
) -> LogoutRecord:
    return LogoutRecord("https://idp.test", jti, sub, sid, time.time() if at is None else at)


async def test_a_jti_is_recorded_once(engine: AsyncEngine) -> None:
    logouts = LogoutRepository(engine)
    assert await logouts.record(record("j1")) is not None
    assert await logouts.record(record("j1")) is None
    assert await logouts.record(record("j2")) is not None


async def test_since_returns_what_other_processes_stored(engine: AsyncEngine) -> None:
    logouts = LogoutRepository(engine)
    first = await logouts.record(record("j1", sid="s1"))
    assert first is not None
    await logouts.record(record("j2", sub=None, sid="s2"))
    rows = (await logouts.since(first)).logouts
    assert [(r.jti, r.session_id, r.subject) for _, r in rows] == [("j2", "s2", None)]
    assert abs(rows[0][1].issued_at - time.time()) < 5


async def test_since_also_returns_the_logouts_received_from_a_time(engine: AsyncEngine) -> None:
    logouts = LogoutRepository(engine)
    before = (await logouts.since(0)).read_at  # the database's clock
    assert abs(before.timestamp() - time.time()) < 5
    await logouts.record(record("j1"))
    last = await logouts.record(record("j2"))
    assert last is not None
    assert (await logouts.since(last, before + timedelta(seconds=5))).logouts == []
    window = await logouts.since(last, before - timedelta(seconds=1))  # both received since
    assert [r.jti for _, r in window.logouts] == ["j1", "j2"]
    assert window.read_at >= before


async def test_prune_forgets_old_logouts(engine: AsyncEngine) -> None:
    logouts = LogoutRepository(engine)
    await logouts.record(record("old", at=time.time() - 10 * 86400))
    await logouts.record(record("new"))
    assert await logouts.prune(time.time() - 86400) == 1
    assert [r.jti for _, r in (await logouts.since(0)).logouts] == ["new"]
