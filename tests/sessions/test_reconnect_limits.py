"""Limits cannot be reset by reconnecting: the user's message bucket outlives the socket."""

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.config import SessionSettings
from server.errors import AppError
from server.identity import Identity
from server.sessions import SessionService
from server.storage import LogoutRepository, UserRepository
from tests.support.clock import FakeClock

SETTINGS = SessionSettings(
    messages_per_second=100, message_burst=100, user_messages_per_second=1, user_message_burst=5
)


def alice(clock: FakeClock) -> Identity:
    now = clock.now()
    return Identity(
        "p", "https://idp.test", "alice", "Alice", frozenset(), frozenset(), "s", now + 300, now
    )


async def sends_on_a_new_socket(sessions: SessionService, clock: FakeClock, sid: str) -> int:
    """Connect, send until refused (at most 50), disconnect; how many were allowed."""
    session = sessions.admit(sid, alice(clock))
    allowed = 0
    refusal: AppError | None = None
    while refusal is None and allowed < 50:
        try:
            await sessions.check_can_send(session)
            allowed += 1
        except AppError as exc:
            refusal = exc
    assert refusal is not None
    assert refusal.code == "rate_limited"
    sessions.remove(sid)
    return allowed


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sessions(engine: AsyncEngine, clock: FakeClock) -> SessionService:
    return SessionService(SETTINGS, LogoutRepository(engine), UserRepository(engine), clock)


async def test_reconnecting_does_not_refill_the_users_message_bucket(
    sessions: SessionService, clock: FakeClock
) -> None:
    assert await sends_on_a_new_socket(sessions, clock, "first") == 5
    assert await sends_on_a_new_socket(sessions, clock, "second") == 0
    clock.advance(2)
    assert await sends_on_a_new_socket(sessions, clock, "third") == 2


async def test_idle_users_buckets_are_forgotten_once_refilled(
    sessions: SessionService, clock: FakeClock
) -> None:
    await sends_on_a_new_socket(sessions, clock, "a")
    assert sessions.registry.forget_refilled_buckets(clock.monotonic()) == 0  # still draining
    clock.advance(10)
    assert sessions.registry.forget_refilled_buckets(clock.monotonic()) == 1
    assert await sends_on_a_new_socket(sessions, clock, "b") == 5
