"""RedisLimits against a real Redis: the cluster-wide cap, ``online`` and the user's bucket.

Each test has a key prefix of its own on the shared Redis (127.0.0.1:6379) and deletes only its
keys. The outage test runs a private ``redis-server`` that it stops and starts again.
"""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from server.cluster import RedisLimits
from server.config import ClusterSettings, SessionSettings
from server.identity import Identity
from server.sessions import LiveSession, TokenBucket
from tests.support.cluster import SHARED_REDIS, PrivateRedis, delete_prefix

LimitsFactory = Callable[..., RedisLimits]
ISSUER = "https://idp.test"


def identity(subject: str = "alice") -> Identity:
    return Identity("p", ISSUER, subject, subject.title(), frozenset(), frozenset(), "s", 2e9, 1e9)


def session(sid: str, subject: str = "alice") -> LiveSession:
    return LiveSession(sid, identity(subject), TokenBucket.full(1, 1, 0), TokenBucket.full(1, 1, 0))


def client(url: str, timeout: float = 0.5) -> Redis:
    return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = f"test-limits-{uuid.uuid4().hex[:12]}"
    yield prefix
    delete_prefix(SHARED_REDIS, prefix)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    redis = client(SHARED_REDIS)
    yield redis
    await redis.aclose()


@pytest.fixture
def make_limits(redis: Redis, prefix: str) -> LimitsFactory:
    """RedisLimits of a node (``node``) on this test's prefix; settings as given."""

    def make(
        node: str = "n1", sessions: SessionSettings | None = None, **cluster: float
    ) -> RedisLimits:
        settings = ClusterSettings(redis_url=SHARED_REDIS, key_prefix=prefix, **cluster)
        return RedisLimits(redis, settings, sessions or SessionSettings(), node)

    return make


async def test_claims_up_to_the_cap_then_refuses(make_limits: LimitsFactory) -> None:
    limits = make_limits()
    outcomes = [await limits.claim(session(f"s{i}"), 2) for i in range(3)]
    assert outcomes == [True, True, False]
    assert await limits.claim(session("b1", "bob"), 2)  # another user has places of their own


async def test_the_cap_counts_every_node(make_limits: LimitsFactory) -> None:
    one, two = make_limits("n1"), make_limits("n2")
    assert await one.claim(session("s1"), 2)
    assert await two.claim(session("s1"), 2)  # the same sid on another node is another socket
    assert not await one.claim(session("s2"), 2)


async def test_the_same_socket_claimed_twice_counts_once(make_limits: LimitsFactory) -> None:
    limits = make_limits()
    assert await limits.claim(session("s1"), 2)
    assert await limits.claim(session("s1"), 2)
    assert await limits.claim(session("s2"), 2)
    assert not await limits.claim(session("s3"), 2)


async def test_a_release_frees_a_place(make_limits: LimitsFactory) -> None:
    limits = make_limits()
    first = session("s1")
    assert await limits.claim(first, 1)
    assert not await limits.claim(session("s2"), 1)
    limits.release(first)
    await limits.close()  # waits for the release, which runs in the background
    assert await limits.claim(session("s2"), 1)


async def test_releasing_the_last_socket_takes_the_user_offline(
    make_limits: LimitsFactory,
) -> None:
    limits = make_limits()
    first, second = session("s1"), session("s2")
    assert await limits.claim(first, 5)
    assert await limits.claim(second, 5)
    assert await limits.claim(session("b1", "bob"), 5)
    assert sorted(await limits.online() or []) == [(ISSUER, "alice"), (ISSUER, "bob")]
    limits.release(first)
    await limits.close()
    assert sorted(await limits.online() or []) == [(ISSUER, "alice"), (ISSUER, "bob")]
    limits.release(second)
    await limits.close()
    assert await limits.online() == [(ISSUER, "bob")]


async def test_sockets_not_refreshed_stop_counting_after_the_ttl(
    make_limits: LimitsFactory,
) -> None:
    limits = make_limits(socket_ttl_seconds=1)  # what a node killed with -9 leaves behind
    assert await limits.claim(session("s1"), 1)
    assert not await limits.claim(session("s2"), 1)
    await asyncio.sleep(1.2)
    assert await limits.online() == []
    assert await limits.claim(session("s2"), 1)


async def test_a_refresh_keeps_sockets_counting_past_the_ttl(make_limits: LimitsFactory) -> None:
    limits = make_limits(socket_ttl_seconds=1)
    first = session("s1")
    assert await limits.claim(first, 1)
    for _ in range(3):
        await asyncio.sleep(0.5)
        assert await limits.refresh([first]) == 1
    assert not await limits.claim(session("s2"), 1)
    assert await limits.online() == [(ISSUER, "alice")]


async def test_a_refresh_counts_sockets_again_after_their_keys_were_deleted(
    make_limits: LimitsFactory, prefix: str
) -> None:
    limits = make_limits()
    live = [session("s1"), session("s2")]
    for one in live:
        assert await limits.claim(one, 2)
    delete_prefix(SHARED_REDIS, prefix)  # what a Redis restart does
    assert await limits.online() == []
    assert await limits.refresh(live) == 2
    assert not await limits.claim(session("s3"), 2)
    assert await limits.online() == [(ISSUER, "alice")]


async def test_a_refresh_of_many_sockets_goes_in_batches(make_limits: LimitsFactory) -> None:
    limits = make_limits()
    live = [session(f"s{i}", f"user{i % 7}") for i in range(450)]
    assert await limits.refresh(live) == 450
    assert len(await limits.online() or []) == 7
    assert not await limits.claim(session("extra", "user0"), 65)  # 65 of user0's sockets count


async def test_the_users_bucket_allows_a_burst_then_refills(make_limits: LimitsFactory) -> None:
    rates = SessionSettings(user_message_burst=3, user_messages_per_second=5)
    limits = make_limits(sessions=rates)
    taken = [await limits.take_message(session(f"s{i % 2}")) for i in range(4)]
    assert taken == [True, True, True, False]  # one bucket for the user, whatever the socket
    assert await limits.take_message(session("b1", "bob")) is True
    await asyncio.sleep(0.25)  # 5 per second: one token back
    assert await limits.take_message(session("s0")) is True
    assert await limits.take_message(session("s0")) is False


async def test_the_users_bucket_is_shared_by_the_nodes(make_limits: LimitsFactory) -> None:
    rates = SessionSettings(user_message_burst=2, user_messages_per_second=0.01)
    one, two = make_limits("n1", rates), make_limits("n2", rates)
    taken = [await node.take_message(session("s1")) for node in (one, two, one, two)]
    assert taken == [True, True, False, False]


async def test_without_redis_the_nodes_own_rules_apply_and_one_warning_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    private = PrivateRedis(tmp_path)  # not started yet: its port is closed
    settings = ClusterSettings(
        redis_url=private.url, key_prefix="test-down", redis_timeout_seconds=0.2
    )
    redis = client(private.url, timeout=0.2)
    limits = RedisLimits(redis, settings, SessionSettings(), "n1")
    try:
        with caplog.at_level(logging.INFO, logger="server.cluster.limits"):
            assert await limits.claim(session("s1"), 1) is True  # the node's own cap held
            assert await limits.claim(session("s2"), 1) is True
            assert await limits.take_message(session("s1")) is None  # the node's own bucket
            assert await limits.online() is None
            assert await limits.refresh([session("s1")]) == 0
            limits.release(session("s1"))
            await limits.close()
            assert limits.failing
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1
            with private:  # Redis is back on the same port
                assert await limits.claim(session("s3"), 1) is True
                assert not limits.failing
                assert not await limits.claim(session("s4"), 1)
                assert await limits.take_message(session("s3")) is True
                assert await limits.online() == [(ISSUER, "alice")]
        levels = [r.levelno for r in caplog.records]
        assert levels == [logging.WARNING, logging.INFO]  # "answers again", once
    finally:
        await redis.aclose()
