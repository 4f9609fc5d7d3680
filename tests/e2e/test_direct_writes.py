"""Broadcasts written straight to each WebSocket's transport: every member of the room gets each
message once, in one order, whichever way (direct or Engine.IO's queue) it went to each of them.

Real server, real sign-ins, real python-socketio clients; the split between the two paths is
read from the server's own counter, ``chat_deliveries_total{path}`` on ``/metrics``.
"""

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from devidp.process import DevIdp
from tests.e2e.conftest import Accounts
from tests.e2e.test_metrics import scrape, value
from tests.e2e.test_transport import LIFTED, ORIGIN, connected_polling
from tests.support.clients import ChatClient, connected
from tests.support.live import LiveServer, dev_provider, make_settings
from tests.support.wire import Polling

TOKEN = "direct-writes-metrics-token-0123"
ROOM = {"room": "general"}
BURST = 30


def chat_server(devidp: DevIdp, url: str, **server: Any) -> LiveServer:
    """A server without rate limits in the way, its metrics on the main port behind a token."""
    settings = make_settings(
        database_url=url,
        providers=[dev_provider(devidp.issuer)],
        sessions=LIFTED,
        metrics={"port": 0, "token": TOKEN},
        **{"frames_per_second": 10_000, "frame_burst": 10_000, **server},
    )
    return LiveServer(settings)


@pytest.fixture
def direct(devidp: DevIdp, sqlite_url: str) -> Iterator[LiveServer]:
    with chat_server(devidp, sqlite_url) as live:  # direct_writes is on by default
        yield live


@pytest.fixture
def queued_only(devidp: DevIdp, sqlite_url: str) -> Iterator[LiveServer]:
    with chat_server(devidp, sqlite_url, direct_writes=False) as live:
        yield live


@pytest.fixture
def with_polling(devidp: DevIdp, sqlite_url: str) -> Iterator[LiveServer]:
    with chat_server(devidp, sqlite_url, websocket_only=False, allowed_origins=[ORIGIN]) as live:
        yield live


def deliveries(live: LiveServer) -> dict[str, float]:
    samples = scrape(live.url + "/metrics", authorization=f"Bearer {TOKEN}")
    return {
        path: value(samples, "chat_deliveries_total", path=path) for path in ("direct", "queued")
    }


def grown(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {path: after[path] - before[path] for path in before}


async def members(live: LiveServer, accounts: Accounts, *users: str) -> list[ChatClient]:
    clients = []
    for user in users:
        client = await connected(live.url, accounts.auth(user))
        clients.append(client)
        assert (await client.call("join", ROOM))["ok"]
    return clients


async def close_all(clients: list[ChatClient]) -> None:
    for client in clients:
        await client.close()


async def wait_for_posted(clients: list[ChatClient], count: int, within: float = 20) -> None:
    """Until each client has ``count`` messages, then a moment more so duplicates would show."""
    for _ in range(int(within / 0.01)):
        if all(len(c.posted) >= count for c in clients):
            break
        await asyncio.sleep(0.01)
    else:
        got = [len(c.posted) for c in clients]
        raise AssertionError(f"expected {count} message_posted each, got {got}")
    await asyncio.sleep(0.3)


def ids(client: ChatClient) -> list[int]:
    return [m["id"] for m in client.posted]


async def send_burst(sender: ChatClient, count: int, prefix: str = "m") -> list[dict[str, Any]]:
    """``count`` messages one after the other; each ack is checked as it comes back, and the
    sender's own copy of the message must already be in (it is broadcast before the ack)."""
    acked = []
    for n in range(count):
        ack = await sender.call("send_message", {**ROOM, "text": f"{prefix}{n}"})
        assert ack["ok"], (n, ack)
        assert ack["message"]["id"] in ids(sender), (n, "ack before its own message_posted")
        acked.append(ack["message"])
    return acked


async def burst_reaches_every_member_once_in_order(live: LiveServer, accounts: Accounts) -> None:
    clients = await members(live, accounts, "alice", "bob", "carol", "dana")
    alice = clients[0]
    try:
        acked = await send_burst(alice, BURST)
        await wait_for_posted(clients, BURST)
    finally:
        await close_all(clients)
    assert [m["text"] for m in acked] == [f"m{n}" for n in range(BURST)]
    for client in clients:  # the sender's own copy included
        assert client.posted == acked  # each once, in the order sent, as the sender was told


# -- direct writes on (the default) ---------------------------------------------------------------


async def test_a_burst_reaches_every_member_once_in_order_mostly_written_directly(
    direct: LiveServer, accounts: Accounts
) -> None:
    before = deliveries(direct)
    await burst_reaches_every_member_once_in_order(direct, accounts)
    counted = grown(before, deliveries(direct))
    assert counted["direct"] + counted["queued"] == 4 * BURST  # every member, every message
    assert counted["direct"] > 0
    assert counted["direct"] >= counted["queued"]  # idle WebSockets: the frame goes straight out


async def test_sends_at_once_from_every_member_reach_everyone_once_in_one_order(
    direct: LiveServer, accounts: Accounts
) -> None:
    """Acks (Engine.IO's queue) and broadcasts (often direct) interleave on every socket: each
    member still gets each message once, every ack comes, and all see the same order."""
    users = ("alice", "bob", "carol", "dana")
    clients = await members(direct, accounts, *users)
    per_client = 25
    before = deliveries(direct)

    async def flood(index: int, client: ChatClient) -> list[tuple[dict[str, Any], bool]]:
        async def one(n: int) -> tuple[dict[str, Any], bool]:
            ack = await client.call("send_message", {**ROOM, "text": f"c{index}-{n}"})
            assert ack["ok"], ack
            return ack["message"], ack["message"]["id"] in ids(client)

        return list(await asyncio.gather(*(one(n) for n in range(per_client))))

    try:
        sent = await asyncio.gather(*(flood(i, c) for i, c in enumerate(clients)))
        total = per_client * len(clients)
        await wait_for_posted(clients, total)
    finally:
        await close_all(clients)
    acked = [message for results in sent for message, _ in results]
    assert len({m["id"] for m in acked}) == total
    own_first = [(m["text"], first) for results in sent for m, first in results if not first]
    assert own_first == []  # each sender had its own message_posted before that message's ack
    for client in clients:
        assert sorted(ids(client)) == sorted(m["id"] for m in acked)  # all of them, once each
    orders = {user: ids(client) for user, client in zip(users, clients, strict=True)}
    assert all(order == orders["alice"] for order in orders.values()), orders  # one room order
    counted = grown(before, deliveries(direct))
    assert counted["direct"] + counted["queued"] == len(clients) * total


# -- direct writes off ----------------------------------------------------------------------------


async def test_with_direct_writes_off_every_delivery_goes_through_the_queue(
    queued_only: LiveServer, accounts: Accounts
) -> None:
    before = deliveries(queued_only)
    await burst_reaches_every_member_once_in_order(queued_only, accounts)
    counted = grown(before, deliveries(queued_only))
    assert counted == {"direct": 0, "queued": 4 * BURST}


# -- long-polling ---------------------------------------------------------------------------------


async def polled_messages(polling: Polling, count: int, within: float = 20) -> list[dict[str, Any]]:
    """Long-poll until ``count`` message_posted events came (answering pings on the way)."""
    posted: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while len(posted) < count:
            response = await polling.get()
            assert response.status_code == 200, response.text
            for packet in response.text.split("\x1e"):
                if packet == "2":
                    await polling.post("3")
                elif packet.startswith('42["message_posted",'):
                    _, message = json.loads(packet[2:])
                    posted.append(message)
    return posted


async def test_a_long_polling_member_gets_the_broadcasts_through_the_queue(
    with_polling: LiveServer, accounts: Accounts
) -> None:
    polling = await connected_polling(with_polling.url, accounts.auth("bob"))
    watcher = await connected(with_polling.url, accounts.auth("carol"))  # a WebSocket member
    sender = await connected(with_polling.url, accounts.auth("alice"))  # not a member
    try:
        await polling.post('420["join",{"room":"general"}]')
        joined = (await polling.get()).text
        assert joined.startswith("430"), joined
        assert json.loads(joined[3:])[0]["ok"], joined
        assert (await watcher.call("join", ROOM))["ok"]
        before = deliveries(with_polling)
        acked = []
        for n in range(BURST):
            ack = await sender.call("send_message", {**ROOM, "text": f"p{n}"})
            assert ack["ok"], ack
            acked.append(ack["message"])
        received = await polled_messages(polling, BURST)
        await wait_for_posted([watcher], BURST)
        after = deliveries(with_polling)
    finally:
        await sender.close()
        await watcher.close()
        await polling.close()
    assert received == acked  # once each, in order, over long-polling
    assert watcher.posted == acked
    counted = grown(before, after)
    assert counted["direct"] + counted["queued"] == 2 * BURST
    assert counted["queued"] >= BURST  # long-polling never goes direct
    assert counted["direct"] > 0  # the WebSocket member did
