"""SessionService and its registry in-process: binding, caps, deadlines, buckets, revocations."""

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.config import SessionSettings
from server.identity import Identity
from server.sessions import Due, SessionError, SessionService
from server.storage import LogoutRecord, LogoutRepository, UserRepository
from tests.support.clock import FakeClock


def identity(
    clock: FakeClock, sub: str = "alice", sid: str | None = "s-1", ttl: float = 300
) -> Identity:
    now = clock.now()
    return Identity(
        "p", "https://idp.test", sub, sub.title(), frozenset(), frozenset(), sid, now + ttl, now
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sessions(engine: AsyncEngine, clock: FakeClock) -> SessionService:
    settings = SessionSettings(
        max_connections_per_user=2, expiry_warning_seconds=60, expiry_grace_seconds=30
    )
    service = SessionService(settings, LogoutRepository(engine), UserRepository(engine), clock)
    await service.start()
    return service


async def test_a_socket_is_bound_once(sessions: SessionService, clock: FakeClock) -> None:
    sessions.admit("sid-1", identity(clock))
    with pytest.raises(SessionError) as info:
        sessions.admit("sid-1", identity(clock, sub="mallory"))
    assert info.value.code == "invalid_request"
    assert sessions.current("sid-1").identity.subject == "alice"


async def test_connection_cap_counts_live_sockets(
    sessions: SessionService, clock: FakeClock
) -> None:
    sessions.admit("a", identity(clock))
    sessions.admit("b", identity(clock))
    with pytest.raises(SessionError) as info:
        sessions.admit("c", identity(clock))
    assert info.value.code == "too_many_connections"
    sessions.remove("a")
    sessions.admit("c", identity(clock))


async def test_deadlines_fire_once_and_follow_refresh(
    sessions: SessionService, clock: FakeClock
) -> None:
    sessions.admit("a", identity(clock, ttl=100))
    clock.advance(41)
    assert [(due, s.sid) for due, s in sessions.due()] == [(Due.WARN, "a")]
    assert sessions.due() == []
    sessions.refresh("a", identity(clock, ttl=600))
    clock.advance(100)  # past the old exp + grace: nothing, the old deadlines are stale
    assert sessions.due() == []
    clock.advance(600)
    assert [due for due, _ in sessions.due()] == [Due.WARN, Due.END]


async def test_refresh_refuses_another_identity(sessions: SessionService, clock: FakeClock) -> None:
    sessions.admit("a", identity(clock))
    with pytest.raises(SessionError) as info:
        sessions.refresh("a", identity(clock, sub="bob"))
    assert info.value.code == "identity_changed"


async def test_logouts_revoke_older_tokens_after_a_restart(
    engine: AsyncEngine, sessions: SessionService, clock: FakeClock
) -> None:
    old = identity(clock, sid="s-9")
    clock.advance(5)
    await LogoutRepository(engine).record(
        LogoutRecord("https://idp.test", "j", None, "s-9", clock.now())
    )
    restarted = SessionService(
        SessionSettings(), LogoutRepository(engine), UserRepository(engine), clock
    )
    await restarted.start()
    with pytest.raises(SessionError) as info:
        restarted.admit("x", old)
    assert info.value.code == "session_revoked"
    clock.advance(5)
    restarted.admit("y", identity(clock, sid="s-9"))  # a token issued after the logout is fine
