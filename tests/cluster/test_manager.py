"""ClusterManager without a chat: heartbeat, status, pokes, gaps and replays over a real Redis.

Each manager sits under a real ``socketio.AsyncServer`` (the server it needs to deliver and
to run its listener), on a channel of this test's own on the shared Redis.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import socketio
from redis.asyncio import Redis

from server.cluster import ClusterManager
from server.config import ClusterSettings
from tests.support.cluster import SHARED_REDIS, PrivateRedis

HEARTBEAT = 0.1
EVENT = "message_posted"
ManagerFactory = Callable[..., Awaitable[ClusterManager]]


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def managers() -> AsyncIterator[ManagerFactory]:
    """Builds listening managers on one fresh channel; closes them and their clients after."""
    prefix = f"test-manager-{uuid.uuid4().hex[:12]}"
    built: list[tuple[ClusterManager, Redis]] = []
    admin = Redis.from_url(SHARED_REDIS, socket_timeout=2)

    async def make(listen: bool = True) -> ClusterManager:
        settings = ClusterSettings(
            redis_url=SHARED_REDIS, key_prefix=prefix, heartbeat_seconds=HEARTBEAT
        )
        publisher = Redis.from_url(SHARED_REDIS, socket_timeout=0.5, socket_connect_timeout=0.5)
        manager = ClusterManager(settings, publisher, tracked_event=EVENT)
        built.append((manager, publisher))
        socketio.AsyncServer(async_mode="asgi", client_manager=manager)
        if listen:
            before = await subscribers(admin, manager.channel)
            manager.initialize()  # what GuardedServer.start_manager does: the listener starts
            await wait_for_subscribers(admin, manager.channel, before + 1)
        return manager

    yield make
    for manager, publisher in built:
        await manager.close()
        await publisher.aclose()
    await admin.aclose()


async def subscribers(admin: Redis, channel: str) -> int:
    counts = dict(await admin.pubsub_numsub(channel))
    return int(counts.get(channel.encode(), 0))


async def wait_for_subscribers(admin: Redis, channel: str, count: int) -> None:
    deadline = time.monotonic() + 5
    while await subscribers(admin, channel) < count:
        assert time.monotonic() < deadline, "the listener did not subscribe"
        await asyncio.sleep(0.01)


async def test_a_manager_that_hears_no_heartbeat_becomes_degraded(
    managers: ManagerFactory,
) -> None:
    deaf = await managers(listen=False)  # publishes, but nobody listens for it
    assert deaf.status() == "ok"
    for _ in range(4):
        await deaf.beat()
        await asyncio.sleep(HEARTBEAT)
    assert deaf.status() == "degraded"


async def test_a_listening_manager_that_beats_stays_ok(managers: ManagerFactory) -> None:
    manager = await managers()
    for _ in range(6):
        await manager.beat()
        await asyncio.sleep(HEARTBEAT)
    assert manager.status() == "ok"


async def test_a_manager_that_cannot_publish_is_degraded_at_once(tmp_path: Path) -> None:
    closed = PrivateRedis(tmp_path)  # never started: a closed port
    settings = ClusterSettings(
        redis_url=closed.url,
        key_prefix="test-down",
        heartbeat_seconds=10,
        redis_timeout_seconds=0.2,
    )
    publisher = Redis.from_url(closed.url, socket_timeout=0.2, socket_connect_timeout=0.2)
    manager = ClusterManager(settings, publisher, tracked_event=EVENT)
    socketio.AsyncServer(async_mode="asgi", client_manager=manager)
    try:
        assert manager.status() == "ok"  # a heartbeat period of 10 s has not passed yet
        started = time.monotonic()
        await manager.beat()
        manager.poke("logouts")  # dropped at once while publishing fails
        await manager.emit(EVENT, {"id": 1}, room="room:general")  # local delivery goes on
        assert time.monotonic() - started < 1.0
        assert manager.status() == "degraded"
    finally:
        await manager.close()
        await publisher.aclose()


async def test_a_poke_runs_the_handler_on_the_other_nodes_only(managers: ManagerFactory) -> None:
    one, two = await managers(), await managers()
    heard: dict[str, list[str]] = {"one": [], "two": []}
    one.on_poke("logouts", lambda: heard["one"].append("logouts"))
    two.on_poke("logouts", lambda: heard["two"].append("logouts"))
    two.on_poke("changes", lambda: heard["two"].append("changes"))
    one.poke("logouts")
    one.poke("changes")
    one.poke("unknown")  # a kind nobody registered: ignored
    await wait_until(lambda: len(heard["two"]) == 2)
    await asyncio.sleep(0.2)  # the sender's own handler would have run by now
    assert heard["one"] == []
    assert sorted(heard["two"]) == ["changes", "logouts"]  # each published by a task of its own


async def test_silence_then_a_heartbeat_calls_on_gap_with_the_last_heard_time(
    managers: ManagerFactory,
) -> None:
    manager = await managers()
    gaps: list[float] = []

    async def on_gap(since: float) -> None:
        gaps.append(since)

    for _ in range(2):  # heard from now on (the first one may end the silence since start-up)
        await manager.beat()
        await asyncio.sleep(HEARTBEAT / 2)  # heard within half a period on an idle Redis
    manager.on_gap(on_gap)
    started = time.time()
    for _ in range(2):
        await manager.beat()
        await asyncio.sleep(HEARTBEAT / 2)
    silent_from = time.time()
    assert gaps == []
    await asyncio.sleep(2.5 * HEARTBEAT)  # more than two periods without a heartbeat
    deadline = time.monotonic() + 3
    while not gaps:  # beat on, as the heartbeat job does (a long silence also resubscribes)
        assert time.monotonic() < deadline, "no gap reported"
        await manager.beat()
        await asyncio.sleep(HEARTBEAT)
    assert started <= gaps[0] <= silent_from  # the last heartbeat heard before the silence
    for _ in range(3):
        await manager.beat()
        await asyncio.sleep(HEARTBEAT / 2)
    assert len(gaps) == 1  # heard on time again: no new gap


async def test_a_node_that_subscribes_late_catches_up_from_when_it_was_built(
    managers: ManagerFactory,
) -> None:
    before = time.time()
    manager = await managers(listen=False)
    built = time.time()
    gaps: list[float] = []

    async def on_gap(since: float) -> None:
        gaps.append(since)

    manager.on_gap(on_gap)
    await asyncio.sleep(3 * HEARTBEAT)  # no subscription yet (Redis away at start-up, say)
    manager.initialize()
    deadline = time.monotonic() + 3
    while not gaps:
        assert time.monotonic() < deadline, "no gap reported"
        await manager.beat()
        await asyncio.sleep(HEARTBEAT / 2)
    assert before <= gaps[0] <= built


async def test_a_node_that_could_not_publish_announces_the_gap_when_it_can(
    tmp_path: Path,
) -> None:
    private = PrivateRedis(tmp_path)
    with private:
        prefix = f"test-manager-{uuid.uuid4().hex[:12]}"
        one, two = private_manager(private, prefix), private_manager(private, prefix)
        gaps: list[float] = []

        async def on_gap(since: float) -> None:
            gaps.append(since)

        two.on_gap(on_gap)
        try:
            for manager in (one, two):
                manager.initialize()
            await wait_until(lambda: private.subscribers() == 2)
            await one.beat()
            last_good = time.time()
            private.stop()
            await one.beat()  # fails: the outage starts for ``one``
            assert one.status() == "degraded"
            private.start()
            await wait_until(lambda: private.subscribers() == 2)
            await one.beat()  # works again: announces what the others may have missed
            await wait_until(lambda: len(gaps) == 1)
            assert last_good - 1 <= gaps[0] <= last_good
        finally:
            for manager in (one, two):
                await manager.close()
                await manager._publisher.aclose()


def private_manager(private: PrivateRedis, prefix: str) -> ClusterManager:
    settings = ClusterSettings(
        redis_url=private.url, key_prefix=prefix, heartbeat_seconds=10, redis_timeout_seconds=0.2
    )
    publisher = Redis.from_url(private.url, socket_timeout=0.2, socket_connect_timeout=0.2)
    manager = ClusterManager(settings, publisher, tracked_event=EVENT)
    socketio.AsyncServer(async_mode="asgi", client_manager=manager)
    return manager


async def test_a_replay_delivers_each_message_once(managers: ManagerFactory) -> None:
    manager = await managers(listen=False)
    payload = {"id": 41, "text": "x"}
    assert await manager.replay("room:general", 41, payload) is True
    assert await manager.replay("room:general", 41, payload) is False
    assert await manager.replay("room:general", 42, {"id": 42}) is True


async def test_a_message_heard_live_is_not_replayed(managers: ManagerFactory) -> None:
    sender, receiver = await managers(), await managers()
    handled = asyncio.Event()
    receiver.on_poke("marker", handled.set)
    await sender.emit(EVENT, {"id": 7, "text": "live"}, room="room:general")
    await sender.emit("other_event", {"id": 8}, room="room:general")  # not the tracked event
    sender.poke("marker")  # published after the emits: heard after them too
    await asyncio.wait_for(handled.wait(), 5)
    assert await receiver.replay("room:general", 7, {"id": 7}) is False
    assert await receiver.replay("room:general", 8, {"id": 8}) is True
    assert await sender.replay("room:general", 7, {"id": 7}) is False  # delivered locally


async def test_junk_on_the_channel_is_ignored_and_the_listener_goes_on(
    managers: ManagerFactory,
) -> None:
    """Whoever can publish on the channel can address sockets (Redis must be private), but
    malformed messages must not stop a node from hearing the cluster."""
    manager = await managers()
    gaps: list[float] = []

    async def on_gap(since: float) -> None:
        gaps.append(since)

    manager.on_gap(on_gap)
    pokes: list[str] = []
    manager.on_poke("logouts", lambda: pokes.append("logouts"))
    junk = [
        b"not json",
        b"[1, 2, 3]",
        b'{"method": "sso.gap", "since": "yesterday"}',
        b'{"method": "sso.poke", "kind": "no-such-kind", "host_id": "x"}',
        b'{"method": "sso.poke", "kind": ["logouts"], "host_id": "x"}',
        b'{"method": "emit", "event": "message_posted"}',
        b'{"method": "disconnect"}',
        b'{"no": "method"}',
    ]
    async with Redis.from_url(SHARED_REDIS, socket_timeout=2) as outsider:
        for message in junk:
            await outsider.publish(manager.channel, message)
        await outsider.publish(manager.channel, b'{"method": "sso.poke", "kind": "logouts"}')
    await wait_until(lambda: pokes == ["logouts"])  # heard after the junk: still listening
    for _ in range(3):
        await manager.beat()
        await asyncio.sleep(HEARTBEAT)
    assert manager.status() == "ok"
    assert gaps == []
