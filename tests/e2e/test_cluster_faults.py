"""A cluster under faults: a node killed with -9, Redis restarted, subscriptions cut by Redis.

Real server processes on one PostgreSQL database. Redis is a private ``redis-server`` (never the
machine's shared one) whenever a test stops it or cuts its connections. Every wait is bounded.
"""

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio.exceptions

from devidp.process import DevIdp
from devidp.signin import Browser, Tokens, sign_in
from tests.e2e.test_cluster import auth, joined, wait_for
from tests.e2e.test_sessions import EventClient
from tests.support.clients import refusal
from tests.support.cluster import Node, PrivateRedis, cluster_nodes
from tests.support.databases import migrated_database
from tests.support.live import free_port

pytestmark = pytest.mark.postgres
logger = logging.getLogger(__name__)

SOCKET_TTL = 3.0
SYNC_SECONDS = 1.0
MARGIN_SECONDS = 2.5  # a sync's query, the emit and the close, on a busy 2-core machine
PASSWORDS = {name: f"{name}-password" for name in ("alice", "bob", "carol", "dana")}


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    with migrated_database("postgresql", tmp_path) as url:
        yield url


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    with server:
        yield server


async def tokens_of(issuer: str, *names: str) -> list[Tokens]:
    return [await asyncio.to_thread(sign_in, issuer, name, PASSWORDS[name]) for name in names]


async def health(node: Node) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"{node.url}/healthz")
    return response.status_code, response.json()


async def wait_for_cluster(nodes: list[Node], state: str, within: float) -> float:
    """Until every node's /healthz says ``cluster: state``, and so ``status: state`` (HTTP 200
    either way: the node still serves); returns how long it took."""
    started = time.monotonic()
    while True:
        answers = [await health(node) for node in nodes]
        wanted = (200, state, state)
        if all((code, body["status"], body["cluster"]) == wanted for code, body in answers):
            elapsed = time.monotonic() - started
            logger.info("every node says %s after %.2f s", state, elapsed)
            return elapsed
        assert time.monotonic() - started < within, answers
        await asyncio.sleep(0.1)


async def send(client: EventClient, text: str, client_id: str | None = None) -> dict[str, Any]:
    payload = {"room": "general", "text": text}
    if client_id is not None:
        payload["client_id"] = client_id
    return await client.call("send_message", payload)


def ids(client: EventClient) -> list[int]:
    return [message["id"] for message in client.posted]


# --- a node killed with -9 --------------------------------------------------------------------


@dataclass
class Sender:
    """A user sending ``count`` messages with client ids, moving to ``fallback`` if its node dies."""

    name: str
    tokens: Tokens
    client: EventClient
    acked: dict[str, int] = field(default_factory=dict)  # client id -> stored message id
    refusals: list[str] = field(default_factory=list)  # while reconnecting
    reconnected_at: float | None = None

    async def run(self, count: int, fallback: Node) -> None:
        index = 0
        while index < count:
            client_id = f"{self.name}-{index}"
            ack = await acked_send(self.client, client_id)
            if ack is None:  # the node died under it: the same client id again, elsewhere
                await self.client.close()
                self.client = await self.reconnect(fallback)
                continue
            assert ack["ok"], ack
            assert self.acked.setdefault(client_id, ack["message"]["id"]) == ack["message"]["id"]
            index += 1
            await asyncio.sleep(0.05)

    async def reconnect(self, node: Node) -> EventClient:
        deadline = time.monotonic() + SOCKET_TTL + MARGIN_SECONDS + 2
        while True:
            client = EventClient()
            try:
                await client.connect(node.url, auth(self.tokens))
            except socketio.exceptions.ConnectionError:
                self.refusals.append(await refusal_code(client))
                assert time.monotonic() < deadline, self.refusals
                await asyncio.sleep(0.2)
                continue
            self.reconnected_at = time.monotonic()
            logger.info("%s reconnected after %d refusals", self.name, len(self.refusals))
            assert (await client.call("join", {"room": "general"}))["ok"]
            return client


async def acked_send(client: EventClient, client_id: str) -> dict[str, Any] | None:
    """The ack, or None when the connection is lost first (the message may be stored or not)."""
    call = asyncio.ensure_future(send(client, f"text of {client_id}", client_id))
    lost = asyncio.ensure_future(client.disconnected.wait())
    done, _ = await asyncio.wait({call, lost}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    lost.cancel()
    if call in done and call.exception() is None:
        return call.result()
    call.cancel()
    await asyncio.gather(call, return_exceptions=True)
    assert done, "neither an ack nor a disconnect within 10 s"
    return None


async def refusal_code(client: EventClient) -> str:
    for _ in range(50):  # the connect_error handler runs just after connect() raised
        if isinstance(client.connect_error, dict):
            return str(client.connect_error.get("data", {}).get("code"))
        await asyncio.sleep(0.01)
    return f"no refusal: {client.connect_error!r}"


async def test_a_node_killed_mid_send_loses_no_acked_message_and_frees_its_places(
    postgres_url: str, tmp_path: Path
) -> None:
    sessions = {"max_connections_per_user": 1, "revocation_sync_seconds": 30}
    with (
        DevIdp() as idp,
        cluster_nodes(
            2,
            tmp_path,
            postgres_url,
            idp.issuer,
            sessions=sessions,
            cluster={"socket_ttl_seconds": SOCKET_TTL},
        ) as nodes,
    ):
        a, b = nodes
        alice, bob, carol = await tokens_of(idp.issuer, "alice", "bob", "carol")
        on_a = [
            Sender("alice", alice, await joined(a, alice)),
            Sender("bob", bob, await joined(a, bob)),
        ]
        senders = [*on_a, Sender("carol", carol, await joined(b, carol))]
        tasks = [asyncio.create_task(s.run(10, fallback=b)) for s in senders]
        await wait_for(lambda: all(len(s.acked) >= 3 for s in on_a))
        await asyncio.to_thread(a.kill)
        killed_at = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*tasks), 25)
        history = await senders[2].client.call("fetch_history", {"room": "general", "limit": 100})
        for sender in senders:
            await sender.client.close()
    stored = Counter(m["client_id"] for m in history["messages"])
    expected = {f"{s.name}-{i}" for s in senders for i in range(10)}
    assert set(stored) == expected  # every message, the acked ones and the retried ones
    assert set(stored.values()) == {1}  # nothing twice
    by_client_id = {m["client_id"]: m["id"] for m in history["messages"]}
    assert all(by_client_id[c] == i for s in senders for c, i in s.acked.items())
    for sender in on_a:  # the dead node's socket counted until its TTL ran out, not longer
        assert sender.refusals
        assert set(sender.refusals) == {"too_many_connections"}
        assert sender.reconnected_at is not None
        assert sender.reconnected_at - killed_at < SOCKET_TTL + MARGIN_SECONDS


# --- Redis stopped and started again ------------------------------------------------------------


@dataclass(frozen=True)
class Outage:
    idp: DevIdp
    redis: PrivateRedis
    a: Node  # the provider posts its back-channel logouts here
    b: Node


@contextmanager
def outage_cluster(
    database_url: str, redis: PrivateRedis, directory: Path, **cluster: float
) -> Iterator[Outage]:
    """Two nodes on ``redis``; the provider's back-channel logouts go to the first."""
    port = free_port()
    logout_uri = f"http://127.0.0.1:{port}/oidc/backchannel-logout/dev"
    sessions = {
        "max_connections_per_user": 1,
        "revocation_sync_seconds": SYNC_SECONDS,
        "user_message_burst": 3,
        "user_messages_per_second": 0.01,
        "message_burst": 10,
    }
    with (
        DevIdp(backchannel_logout_uri=logout_uri) as idp,
        cluster_nodes(
            2,
            directory,
            database_url,
            idp.issuer,
            redis_url=redis.url,
            ports=[port, free_port()],
            sessions=sessions,
            admin={"sync_seconds": 10},
            cluster={"socket_ttl_seconds": SOCKET_TTL, "redis_timeout_seconds": 0.2, **cluster},
        ) as nodes,
    ):
        yield Outage(idp, redis, *nodes)


@pytest.fixture
def outage(postgres_url: str, private_redis: PrivateRedis, tmp_path: Path) -> Iterator[Outage]:
    with outage_cluster(postgres_url, private_redis, tmp_path) as cluster:
        yield cluster


async def test_a_redis_restart_degrades_the_nodes_then_they_recover_and_catch_up(
    outage: Outage,
) -> None:
    a, b = outage.a, outage.b
    alice_tokens, bob_tokens, carol_tokens = await tokens_of(
        outage.idp.issuer, "alice", "bob", "carol"
    )
    alice, bob = await joined(a, alice_tokens), await joined(a, bob_tokens)
    carol = await joined(b, carol_tokens)
    with Browser(outage.idp.issuer) as browser:
        dana_tokens = await asyncio.to_thread(browser.sign_in, "dana", "dana-password")
        dana = await joined(b, dana_tokens)
        before = await send(alice, "before")
        await wait_for(lambda: ids(carol) == [before["message"]["id"]])

        outage.redis.stop()
        await wait_for_cluster([a, b], "degraded", within=2.0)  # 10 heartbeats
        during = await sends_during_the_outage(alice, a, alice_tokens)
        await wait_for(lambda: ids(bob) == [before["message"]["id"], *during])  # A's own sockets
        await logout_during_the_outage(browser, dana, dana_tokens, b)
        assert ids(carol) == [before["message"]["id"]]  # nothing crossed to B meanwhile

        outage.redis.start()  # the same port, and empty
        await wait_for_cluster([a, b], "ok", within=8.0)
    expected = [before["message"]["id"], *during]
    await wait_for(lambda: len(carol.posted) >= len(expected), within=5)
    await asyncio.sleep(0.5)  # a second delivery would have arrived by now
    assert ids(carol) == expected  # caught up, exactly once
    assert ids(bob) == expected  # A's own catch-up delivered nothing twice
    await assert_messages_flow(bob, carol)
    for client in (alice, bob, carol):
        await client.close()


async def sends_during_the_outage(alice: EventClient, a: Node, tokens: Tokens) -> list[int]:
    """Acked (committed) sends, then the node's own user rate and cap (burst 3, cap 1)."""
    acks = [await send(alice, f"during-{i}") for i in range(4)]
    assert [ack["ok"] for ack in acks] == [True, True, True, False], acks
    assert acks[3]["error"]["code"] == "rate_limited"
    assert (await refusal(a.url, auth(tokens)))["code"] == "too_many_connections"
    return [ack["message"]["id"] for ack in acks[:3]]


async def logout_during_the_outage(
    browser: Browser, dana: EventClient, tokens: Tokens, b: Node
) -> None:
    """The provider tells A; B ends the socket from the database alone (no poke can arrive)."""
    started = time.monotonic()
    await asyncio.to_thread(browser.end_session, tokens.id_token)
    ended = await dana.wait_event("session_ended", within=SYNC_SECONDS + MARGIN_SECONDS)
    assert ended == {"reason": "logged_out"}
    await asyncio.wait_for(dana.disconnected.wait(), 2)
    assert time.monotonic() - started < SYNC_SECONDS + MARGIN_SECONDS
    assert (await refusal(b.url, auth(tokens)))["code"] == "session_revoked"


async def assert_messages_flow(on_a: EventClient, on_b: EventClient) -> None:
    for sender, receiver in ((on_a, on_b), (on_b, on_a)):
        ack = await send(sender, "after")
        assert ack["ok"], ack
        await wait_for(lambda r=receiver, i=ack["message"]["id"]: i in ids(r), within=3)


async def test_a_node_whose_last_socket_left_during_the_outage_says_ok_again(
    outage: Outage,
) -> None:
    (alice_tokens,) = await tokens_of(outage.idp.issuer, "alice")
    alice = await joined(outage.b, alice_tokens)
    outage.redis.stop()
    await wait_for_cluster([outage.a, outage.b], "degraded", within=2.0)
    await asyncio.sleep(SOCKET_TTL / 3 + 0.2)  # B's socket refresh has failed meanwhile
    await alice.close()
    outage.redis.start()
    await wait_for_cluster([outage.a, outage.b], "ok", within=8.0)


# --- subscriptions cut by Redis -----------------------------------------------------------------


async def test_a_subscription_killed_by_redis_subscribes_again_and_messages_flow(
    outage: Outage,
) -> None:
    alice_tokens, bob_tokens = await tokens_of(outage.idp.issuer, "alice", "bob")
    alice, bob = await joined(outage.a, alice_tokens), await joined(outage.b, bob_tokens)
    await assert_messages_flow(alice, bob)
    assert outage.redis.subscribers() == 2
    assert outage.redis.kill_subscriptions() == 2  # CLIENT KILL TYPE pubsub
    await wait_for(lambda: outage.redis.subscribers() == 2, within=5)
    await assert_messages_flow(alice, bob)
    await wait_for_cluster([outage.a, outage.b], "ok", within=3.0)
    for client in (alice, bob):
        await client.close()


async def test_a_message_published_while_a_subscription_is_restored_still_arrives(
    postgres_url: str, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    with outage_cluster(postgres_url, private_redis, tmp_path, heartbeat_seconds=2.0) as outage:
        alice_tokens, bob_tokens = await tokens_of(outage.idp.issuer, "alice", "bob")
        alice, bob = await joined(outage.a, alice_tokens), await joined(outage.b, bob_tokens)
        await assert_messages_flow(alice, bob)
        outage.redis.refuse_subscriptions(True)  # holds the resubscription off: a short window
        assert outage.redis.kill_subscriptions() == 2
        ack = await send(alice, "while B subscribes again")
        assert ack["ok"], ack  # stored, and published to nobody
        await asyncio.sleep(0.2)
        outage.redis.refuse_subscriptions(False)
        await wait_for(lambda: outage.redis.subscribers() == 2, within=5)
        try:
            await wait_for(lambda: ack["message"]["id"] in ids(bob), within=4)
        finally:
            for client in (alice, bob):
                await client.close()


# --- Redis down before the nodes start ----------------------------------------------------------


async def test_nodes_started_while_redis_is_down_serve_and_join_when_it_comes(
    postgres_url: str, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    private_redis.stop()
    with outage_cluster(postgres_url, private_redis, tmp_path) as cluster:
        a, b = cluster.a, cluster.b
        await wait_for_cluster([a, b], "degraded", within=3.0)
        alice_tokens, bob_tokens = await tokens_of(cluster.idp.issuer, "alice", "bob")
        alice, bob = await joined(a, alice_tokens), await joined(b, bob_tokens)
        early = await send(alice, "while Redis was never up")
        assert early["ok"], early  # committed, and delivered on A
        await wait_for(lambda: ids(alice) == [early["message"]["id"]])
        private_redis.start()
        await wait_for_cluster([a, b], "ok", within=8.0)
        await wait_for(lambda: ids(bob) == [early["message"]["id"]], within=5)
        await assert_messages_flow(alice, bob)
        for client in (alice, bob):
            await client.close()
