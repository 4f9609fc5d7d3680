"""Three real server processes on one PostgreSQL database and one Redis behave as one chat.

The database polls are set far apart (30 s) so that what arrives within two seconds can only
have come over Redis: the broadcasts, and the pokes that make every node re-read a logout now.
"""

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devidp.process import DevIdp
from devidp.signin import Browser, Tokens, sign_in
from server.admin import PREFIX
from tests.e2e.test_sessions import EventClient
from tests.support.clients import refusal
from tests.support.cluster import Node, cluster_nodes
from tests.support.databases import migrated_database
from tests.support.live import free_port

pytestmark = pytest.mark.postgres

SLOW_POLL = {"revocation_sync_seconds": 30}
WITHIN_SECONDS = 2.0


@dataclass(frozen=True)
class Cluster:
    idp: DevIdp
    nodes: list[Node]


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    with migrated_database("postgresql", tmp_path) as url:
        yield url


@pytest.fixture
def cluster(request: pytest.FixtureRequest, postgres_url: str, tmp_path: Path) -> Iterator[Cluster]:
    """Three nodes; a test marked ``sessions(**keys)`` adds keys to their ``[sessions]``."""
    port = free_port()
    logout_uri = f"http://127.0.0.1:{port}/oidc/backchannel-logout/dev"
    marker = request.node.get_closest_marker("sessions")
    sessions = {**SLOW_POLL, "max_connections_per_user": 2, "presence_seconds": 0.5}
    sessions |= marker.kwargs if marker else {}
    with (
        DevIdp(backchannel_logout_uri=logout_uri) as idp,
        cluster_nodes(
            3,
            tmp_path,
            postgres_url,
            idp.issuer,
            ports=[port, free_port(), free_port()],
            sessions=sessions,
            admin={"sync_seconds": 10, "groups": ["chat-admins"]},
        ) as nodes,
    ):
        yield Cluster(idp, nodes)


def auth(tokens: Tokens) -> dict[str, str]:
    return {"access_token": tokens.access_token, "id_token": tokens.id_token}


async def joined(node: Node, tokens: Tokens) -> EventClient:
    client = EventClient()
    await client.connect(node.url, auth(tokens))
    assert (await client.call("join", {"room": "general"}))["ok"]
    return client


async def wait_for(condition: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_message_sent_on_one_node_reaches_the_others_once_and_in_order(
    cluster: Cluster,
) -> None:
    a, b, c = cluster.nodes
    alice_tokens = await asyncio.to_thread(sign_in, cluster.idp.issuer, "alice", "alice-password")
    bob_tokens = await asyncio.to_thread(sign_in, cluster.idp.issuer, "bob", "bob-password")
    carol_tokens = await asyncio.to_thread(sign_in, cluster.idp.issuer, "carol", "carol-password")
    alice, bob, carol = (
        await joined(a, alice_tokens),
        await joined(b, bob_tokens),
        await joined(c, carol_tokens),
    )
    try:
        acked, senders = [], set()
        for index in range(8):
            ack = await alice.call("send_message", {"room": "general", "text": f"m{index}"})
            assert ack["ok"], ack
            acked.append(ack["message"]["id"])
            senders.add(ack["message"]["sender"]["subject"])
        for client in (alice, bob, carol):
            await wait_for(lambda client=client: len(client.posted) >= len(acked))
        await asyncio.sleep(0.5)  # a duplicate would have arrived by now
        for client in (alice, bob, carol):
            assert [m["id"] for m in client.posted] == acked
            assert {m["sender"]["subject"] for m in client.posted} == senders
    finally:
        for client in (alice, bob, carol):
            await client.close()
    assert all(node.health()["cluster"] == "ok" for node in cluster.nodes)


async def test_a_retried_client_id_on_another_node_stores_nothing_twice(cluster: Cluster) -> None:
    a, b, _ = cluster.nodes
    tokens = await asyncio.to_thread(sign_in, cluster.idp.issuer, "alice", "alice-password")
    watcher_tokens = await asyncio.to_thread(sign_in, cluster.idp.issuer, "bob", "bob-password")
    watcher = await joined(b, watcher_tokens)
    first = await joined(a, tokens)
    payload = {"room": "general", "text": "once", "client_id": "retry-1"}
    try:
        stored = await first.call("send_message", payload)
        await first.close()  # the client lost its connection and reconnects elsewhere
        second = await joined(b, tokens)
        retried = await second.call("send_message", payload)
        assert retried["ok"]
        assert retried["message"]["id"] == stored["message"]["id"]
        history = await second.call("fetch_history", {"room": "general"})
        assert [m["text"] for m in history["messages"]] == ["once"]
        await asyncio.sleep(0.5)
        assert [m["id"] for m in watcher.posted] == [stored["message"]["id"]]
        await second.close()
    finally:
        await watcher.close()


async def test_a_back_channel_logout_posted_to_one_node_ends_the_socket_on_another(
    cluster: Cluster,
) -> None:
    a, _, c = cluster.nodes  # the provider posts its logouts to a
    with Browser(cluster.idp.issuer) as browser:
        tokens = await asyncio.to_thread(browser.sign_in, "alice", "alice-password")
        alice = await joined(c, tokens)
        started = time.monotonic()
        await asyncio.to_thread(browser.end_session, tokens.id_token)
        ended = await alice.wait_event("session_ended", within=WITHIN_SECONDS + 1)
        assert ended == {"reason": "logged_out"}
        await asyncio.wait_for(alice.disconnected.wait(), 2)
    assert time.monotonic() - started < WITHIN_SECONDS + 1  # the provider's own call included
    assert (await refusal(c.url, auth(tokens)))["code"] == "session_revoked"
    assert (await refusal(a.url, auth(tokens)))["code"] == "session_revoked"


async def test_the_connection_cap_counts_every_node(cluster: Cluster) -> None:
    a, b, c = cluster.nodes  # max_connections_per_user = 2
    tokens = await asyncio.to_thread(sign_in, cluster.idp.issuer, "alice", "alice-password")
    first, second = await joined(a, tokens), await joined(b, tokens)
    assert (await refusal(c.url, auth(tokens)))["code"] == "too_many_connections"
    await first.close()
    third = EventClient()
    deadline = time.monotonic() + 5
    while True:  # the release reaches Redis in the background, just after the disconnect
        try:
            await third.connect(c.url, auth(tokens))
            break
        except Exception:
            assert time.monotonic() < deadline, third.connect_error
            await asyncio.sleep(0.1)
    await second.close()
    await third.close()


@pytest.mark.sessions(user_message_burst=4, user_messages_per_second=0.01, message_burst=10)
async def test_the_users_message_rate_counts_every_node(cluster: Cluster) -> None:
    a, b, _ = cluster.nodes  # user_message_burst = 4, nearly no refill
    tokens = await asyncio.to_thread(sign_in, cluster.idp.issuer, "alice", "alice-password")
    on_a, on_b = await joined(a, tokens), await joined(b, tokens)
    outcomes = []
    for index in range(6):
        client = on_a if index % 2 == 0 else on_b
        ack = await client.call("send_message", {"room": "general", "text": f"r{index}"})
        outcomes.append("ok" if ack["ok"] else ack["error"]["code"])
    assert outcomes == ["ok"] * 4 + ["rate_limited"] * 2
    await on_a.close()
    await on_b.close()


async def test_an_admin_sees_every_node_and_who_is_online_anywhere(cluster: Cluster) -> None:
    a, b, c = cluster.nodes
    issuer = cluster.idp.issuer
    alice = await joined(b, await asyncio.to_thread(sign_in, issuer, "alice", "alice-password"))
    bob = await joined(c, await asyncio.to_thread(sign_in, issuer, "bob", "bob-password"))
    dana = await asyncio.to_thread(sign_in, issuer, "dana", "dana-password")
    admin = {"Authorization": f"Bearer {dana.access_token}", "X-Id-Token": dana.id_token}
    try:
        async with httpx.AsyncClient(base_url=a.url) as http:
            seen: dict[str, Any] = {}

            async def view() -> bool:
                response = await http.get(PREFIX + "/cluster", headers=admin)
                assert response.status_code == 200, response.text
                seen.update(response.json()["cluster"])
                return bool(sum(n["sockets"] for n in seen["nodes"]) == 2)

            deadline = time.monotonic() + 5  # each node writes its presence every 0.5 s
            while not await view():
                assert time.monotonic() < deadline, seen
                await asyncio.sleep(0.2)
        assert (seen["mode"], seen["status"], seen["online_users"]) == ("redis", "ok", 2)
        assert len(seen["nodes"]) == 3
        assert all(n["alive"] for n in seen["nodes"])
        assert [n["here"] for n in seen["nodes"]].count(True) == 1
    finally:
        await alice.close()
        await bob.close()
