"""Logouts stored by another process end the live sessions they cover here, at the next sync."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.config import SessionSettings
from server.identity import LogoutRequest
from server.sessions import SessionService
from server.storage import LogoutRecord, LogoutRepository, UserRepository, create_engine
from server.storage.logouts import LOGOUTS
from tests.sessions.test_service import identity
from tests.support.clock import FakeClock
from tests.support.databases import migrated_database

ISSUER = "https://idp.test"
SETTINGS = SessionSettings(revocation_sync_seconds=0.5)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def started(engine: AsyncEngine, clock: FakeClock) -> SessionService:
    service = SessionService(SETTINGS, LogoutRepository(engine), UserRepository(engine), clock)
    await service.start()
    return service


async def store_logout(
    engine: AsyncEngine, jti: str, at: float, *, sub: str | None = None, sid: str | None = None
) -> None:
    """What another server process sharing the database does when it receives a logout."""
    assert await LogoutRepository(engine).record(LogoutRecord(ISSUER, jti, sub, sid, at))


async def test_sync_returns_the_live_sockets_a_new_logout_covers(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    here = await started(engine, clock)
    for sid, sub, session_id in [
        ("a1", "alice", "s-1"),
        ("a2", "alice", "s-2"),
        ("b1", "bob", "s-3"),
        ("c1", "carol", "s-4"),
    ]:
        here.admit(sid, identity(clock, sub=sub, sid=session_id))
    clock.advance(1)
    await store_logout(engine, "j1", clock.now(), sub="alice", sid="s-1")  # one provider session
    await store_logout(engine, "j2", clock.now(), sub="bob")  # every session of bob
    assert sorted(await here.sync_logouts()) == ["a1", "b1"]
    assert await here.sync_logouts() == []  # each logout is enforced once


async def test_sockets_with_tokens_issued_after_the_logout_live_on(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    here = await started(engine, clock)
    logged_out_at = clock.now()
    clock.advance(5)
    here.admit("fresh", identity(clock, sub="alice", sid="s-1"))  # signed in again since
    here.admit("bob-fresh", identity(clock, sub="bob", sid="s-2"))
    await store_logout(engine, "j1", logged_out_at, sid="s-1")
    await store_logout(engine, "j2", logged_out_at, sub="bob")
    assert await here.sync_logouts() == []


async def test_a_logout_received_here_is_not_returned_by_the_sync(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    here = await started(engine, clock)
    here.admit("a1", identity(clock, sid="s-1"))
    clock.advance(1)
    request = LogoutRequest("p", ISSUER, "j1", "alice", "s-1", clock.now())
    assert await here.logout(request) == ["a1"]  # ended by the receiver itself, at once
    assert await here.sync_logouts() == []


async def test_a_socket_signed_in_after_the_logout_is_ended_by_neither_path(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    receiver, other = await started(engine, clock), await started(engine, clock)
    for here in (receiver, other):
        here.admit("alice-old", identity(clock, sub="alice", sid="s-1"))
        here.admit("bob-old", identity(clock, sub="bob", sid="s-2"))
    clock.advance(1)
    logged_out_at = clock.now()
    clock.advance(5)
    for here in (receiver, other):  # tokens issued after the logout, by a new sign-in
        here.admit("alice-new", identity(clock, sub="alice", sid="s-1"))
        here.admit("bob-new", identity(clock, sub="bob", sid="s-3"))
    by_session = LogoutRequest("p", ISSUER, "j1", "alice", "s-1", logged_out_at)
    by_subject = LogoutRequest("p", ISSUER, "j2", "bob", None, logged_out_at)
    assert await receiver.logout(by_session) == ["alice-old"]
    assert await receiver.logout(by_subject) == ["bob-old"]
    assert sorted(await other.sync_logouts()) == ["alice-old", "bob-old"]


async def test_a_logout_stored_after_the_table_was_pruned_empty_is_loaded(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    here = await started(engine, clock)
    retention = SETTINGS.logout_retention_seconds
    await store_logout(engine, "j-old", clock.now() - retention - 60, sid="s-0")
    await here.sync_logouts()
    assert await LogoutRepository(engine).prune(clock.now() - retention) == 1
    here.admit("a1", identity(clock, sid="s-1"))
    clock.advance(1)
    await store_logout(engine, "j-new", clock.now(), sid="s-1")  # SQLite reuses the pruned id
    assert await here.sync_logouts() == ["a1"]


async def test_a_failing_sync_is_logged_once_and_the_next_one_catches_up(
    engine: AsyncEngine, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    here = await started(engine, clock)
    here.admit("a1", identity(clock, sid="s-1"))
    clock.advance(1)
    await store_logout(engine, "j1", clock.now(), sid="s-1")
    await rename_table(engine, "logouts", "logouts_away")  # every query of the sync now fails
    with caplog.at_level(logging.INFO, logger="server.sessions.service"):
        for _ in range(3):
            assert await here.sync_logouts() == []
        await rename_table(engine, "logouts_away", "logouts")
        assert await here.sync_logouts() == ["a1"]
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]


async def rename_table(engine: AsyncEngine, old: str, new: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


async def test_indexed_logouts_are_forgotten_past_retention(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    here = await started(engine, clock)
    old = identity(clock, sid="s-1")
    clock.advance(1)
    await store_logout(engine, "j1", clock.now(), sid="s-1")
    await here.sync_logouts()
    assert here.revocations.is_revoked(old)
    clock.advance(SETTINGS.logout_retention_seconds + 1)
    await here.sync_logouts()
    assert not here.revocations.is_revoked(old)


@pytest.fixture
async def postgres_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    with migrated_database("postgresql", tmp_path) as url:
        engine = create_engine(url)
        yield engine
        await engine.dispose()


@pytest.mark.postgres
async def test_a_stuck_sync_is_bounded_by_the_sync_interval(
    postgres_engine: AsyncEngine, clock: FakeClock
) -> None:
    here = await started(postgres_engine, clock)
    here.admit("a1", identity(clock, sid="s-1"))
    clock.advance(1)
    await store_logout(postgres_engine, "j1", clock.now(), sid="s-1")
    async with postgres_engine.connect() as locker:
        await locker.execute(text("LOCK TABLE logouts IN ACCESS EXCLUSIVE MODE"))
        started_at = time.monotonic()
        # The query waits on the lock for as long as it is held: the sync gives up instead.
        assert await asyncio.wait_for(here.sync_logouts(), 5) == []
        assert time.monotonic() - started_at < SETTINGS.revocation_sync_seconds + 1
        await locker.rollback()
    assert await asyncio.wait_for(here.sync_logouts(), 5) == ["a1"]


@pytest.mark.postgres
async def test_a_logout_committed_after_a_higher_id_was_read_is_loaded_by_the_next_sync(
    postgres_engine: AsyncEngine, clock: FakeClock
) -> None:
    here = await started(postgres_engine, clock)
    here.admit("late", identity(clock, sid="s-1"))
    here.admit("early", identity(clock, sid="s-2"))
    clock.advance(1)
    async with postgres_engine.connect() as first:
        late_id = await insert_logout(first, "j-late", clock.now(), sid="s-1")  # not committed
        early = LogoutRecord(ISSUER, "j-early", None, "s-2", clock.now())
        early_id = await LogoutRepository(postgres_engine).record(early)  # committed
        assert early_id is not None
        assert late_id < early_id
        assert await here.sync_logouts() == ["early"]  # the sync has now read past late_id
        await first.commit()
    assert await here.sync_logouts() == ["late"]
    assert await here.sync_logouts() == []


async def insert_logout(conn: AsyncConnection, jti: str, at: float, *, sid: str) -> int:
    """An insert as ``LogoutRepository.record`` makes it, in a transaction left open."""
    statement = (
        insert(LOGOUTS)
        .values(
            issuer=ISSUER,
            jti=jti,
            session_id=sid,
            issued_at=datetime.fromtimestamp(at, UTC),
            received_at=func.now(),
        )
        .returning(LOGOUTS.c.id)
    )
    return int((await conn.execute(statement)).scalar_one())
