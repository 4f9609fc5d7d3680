"""Presence across processes: each node publishes its live sockets per user; any node counts
them all, and a node that stopped beating stops counting."""

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.config import SessionSettings
from server.sessions import Presence, SessionRegistry
from server.storage import PresenceRepository
from tests.sessions.test_service import identity
from tests.support.clock import FakeClock

INTERVAL = 5.0


def node(engine: AsyncEngine, clock: FakeClock, name: str) -> tuple[Presence, SessionRegistry]:
    registry = SessionRegistry(SessionSettings())
    return Presence(PresenceRepository(engine), registry, name, clock, INTERVAL), registry


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_a_users_sockets_are_counted_across_nodes(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    (a, on_a), (b, on_b) = node(engine, clock, "a"), node(engine, clock, "b")
    alice = identity(clock)
    on_a.add("a1", alice, 0)
    on_b.add("b1", alice, 0)
    on_b.add("b2", alice, 0)
    on_b.add("b3", identity(clock, sub="bob"), 0)
    await a.publish()
    await b.publish()
    assert await a.count(alice.key) == (3, 2)
    assert await b.count(identity(clock, sub="bob").key) == (1, 1)
    on_b.remove("b1")
    on_b.remove("b2")
    await b.publish()  # only the change is written; a user at 0 loses the row
    assert await a.count(alice.key) == (1, 1)


async def test_a_node_that_stops_beating_stops_counting_and_is_forgotten(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    (a, _), (b, on_b) = node(engine, clock, "a"), node(engine, clock, "b")
    alice = identity(clock)
    on_b.add("b1", alice, 0)
    await b.publish()
    await a.publish()
    assert await a.count(alice.key) == (1, 1)
    clock.advance(INTERVAL * 3 + 1)  # b died without a word; a goes on beating
    await a.publish()
    assert await a.count(alice.key) == (0, 0)
    clock.advance(11 * 60)
    await a.publish()  # past FORGET_AFTER: b's rows are removed
    repository = PresenceRepository(engine)
    assert await repository.forget(beat_before=clock_time(clock)) == 1  # only a is left


async def test_a_node_that_leaves_stops_counting_at_once(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    (a, _), (b, on_b) = node(engine, clock, "a"), node(engine, clock, "b")
    alice = identity(clock)
    on_b.add("b1", alice, 0)
    await b.publish()
    await b.leave()
    assert await a.count(alice.key) == (0, 0)


def clock_time(clock: FakeClock) -> datetime:
    return datetime.fromtimestamp(clock.now() + 1, UTC)
