"""SessionService asks the shared limits (the cluster's) after its own, and falls back to its own."""

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.config import SessionSettings
from server.errors import AppError
from server.identity import Identity
from server.sessions import LiveSession, SessionService
from server.storage import LogoutRepository, UserRepository
from tests.support.clock import FakeClock


class ScriptedLimits:
    """A shared store that answers as told and records what it was asked."""

    def __init__(self, *, places: int, tokens: int | None) -> None:
        self.places = places
        self.tokens = tokens  # None: "not known here"
        self.released: list[str] = []

    async def claim(self, session: LiveSession, cap: int) -> bool:
        if self.places == 0:
            return False
        self.places -= 1
        return True

    def release(self, session: LiveSession) -> None:
        self.released.append(session.sid)

    async def take_message(self, session: LiveSession) -> bool | None:
        if self.tokens is None:
            return None
        self.tokens -= 1
        return self.tokens >= 0


def alice(clock: FakeClock) -> Identity:
    now = clock.now()
    return Identity(
        "p", "https://idp.test", "alice", "Alice", frozenset(), frozenset(), "s", now + 300, now
    )


def service(engine: AsyncEngine, clock: FakeClock, limits: ScriptedLimits) -> SessionService:
    settings = SessionSettings(messages_per_second=100, message_burst=100, user_message_burst=3)
    logouts, users = LogoutRepository(engine), UserRepository(engine)
    return SessionService(settings, logouts, users, clock, limits=limits)


async def code_of_send(sessions: SessionService, session: LiveSession) -> str:
    try:
        await sessions.check_can_send(session)
    except AppError as exc:
        return exc.code
    return "ok"


async def test_a_full_shared_count_refuses_the_socket_and_keeps_nothing(
    engine: AsyncEngine,
) -> None:
    clock, limits = FakeClock(), ScriptedLimits(places=1, tokens=None)
    sessions = service(engine, clock, limits)
    await sessions.bind("a", alice(clock))
    with pytest.raises(AppError) as refused:
        await sessions.bind("b", alice(clock))
    assert refused.value.code == "too_many_connections"
    assert sessions.registry.get("b") is None
    assert sessions.registry.count_for(alice(clock)) == 1
    assert limits.released == []  # never claimed: nothing to release


async def test_a_removed_or_ended_socket_is_released_once(engine: AsyncEngine) -> None:
    clock, limits = FakeClock(), ScriptedLimits(places=5, tokens=None)
    sessions = service(engine, clock, limits)
    await sessions.bind("a", alice(clock))
    await sessions.bind("b", alice(clock))
    sessions.remove("a")
    await sessions.end(["b"], "blocked")
    sessions.remove("b")  # the transport's disconnect after the end
    assert limits.released == ["a", "b"]


async def test_the_shared_budget_decides_the_users_rate(engine: AsyncEngine) -> None:
    clock, limits = FakeClock(), ScriptedLimits(places=5, tokens=2)
    sessions = service(engine, clock, limits)
    session = await sessions.bind("a", alice(clock))
    codes = [await code_of_send(sessions, session) for _ in range(4)]
    assert codes == ["ok", "ok", "rate_limited", "rate_limited"]


async def test_without_an_answer_the_nodes_own_bucket_decides(engine: AsyncEngine) -> None:
    clock, limits = FakeClock(), ScriptedLimits(places=5, tokens=None)
    sessions = service(engine, clock, limits)
    session = await sessions.bind("a", alice(clock))
    codes = [await code_of_send(sessions, session) for _ in range(5)]
    assert codes == ["ok", "ok", "ok", "rate_limited", "rate_limited"]  # user_message_burst = 3
