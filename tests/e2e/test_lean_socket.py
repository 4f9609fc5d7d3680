"""LeanSocket on the real server: which connections get one, what an idle one costs in tasks,
that bursts of acks and broadcasts leave every queue idle, and that closes leave nothing.

Real server (our app factory, our uvicorn settings), real sign-ins, real python-socketio
clients, bare WebSockets and bare TCP. The server's own figures come from ``/metrics``
(``chat_asyncio_tasks``, ``chat_connections``, ``chat_deliveries_total``); what only the
server's objects can tell (a socket's class, its queue) is read on the server's event loop,
from the GuardedServer the app factory built.

Engine.IO's ping interval is not a server setting (25 s + 20 s): pings and ping timeouts are
tried in-process, in ``tests/gateway_direct/test_lean_socket.py``.
"""

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from engineio.async_socket import AsyncSocket

import server.app as composition
from devidp.process import DevIdp
from server.admin import PREFIX
from server.config import Settings
from server.gateway.server import GuardedServer
from server.gateway.sockets import LeanSocket
from tests.e2e.conftest import Accounts
from tests.e2e.test_admin_api import ADMIN_GROUPS, headers
from tests.e2e.test_admin_users import find_user
from tests.e2e.test_metrics import Samples, scrape, value
from tests.e2e.test_sessions import EventClient
from tests.e2e.test_transport import LIFTED, ORIGIN, connected_polling
from tests.gateway_direct.test_lean_socket import BareTcpClient
from tests.support.clients import ChatClient, connected
from tests.support.live import LiveServer, dev_provider, make_settings
from tests.support.wire import Polling, is_closed, raw_socket

TOKEN = "lean-socket-metrics-token-012345"
ROOM = {"room": "general"}
USERS = ("alice", "bob", "carol", "dana")
WRITER_TASK = "LeanSocket._write"
T = TypeVar("T")


@dataclass
class Live:
    """The real server, and the GuardedServer inside it (its event loop is another thread's)."""

    server: LiveServer
    sio: GuardedServer

    @property
    def url(self) -> str:
        return self.server.url

    async def on_server(self, read: Callable[[], T]) -> T:
        """``read()`` run on the server's event loop (where its sockets and queues live)."""
        handle = self.sio.eio.service_task_handle  # Engine.IO starts it at the first connect
        assert handle is not None, "no connection yet"

        async def call() -> T:
            return read()

        future = asyncio.run_coroutine_threadsafe(call(), handle.get_loop())
        return await asyncio.wrap_future(future)

    async def socket_kinds(self) -> dict[str, str]:
        """Each Engine.IO session's socket class, by Engine.IO sid."""
        return await self.on_server(
            lambda: {sid: type(s).__name__ for sid, s in self.sio.eio.sockets.items()}
        )

    async def all_idle(self) -> bool:
        """Every socket's queue idle and empty, and no LeanSocket writer task alive."""

        def read() -> bool:
            writers = sum(
                getattr(t.get_coro(), "__qualname__", "") == WRITER_TASK
                for t in asyncio.all_tasks()
            )
            queues = [s.queue for s in self.sio.eio.sockets.values()]
            return writers == 0 and all(q.idle and q.empty() for q in queues)

        return await self.on_server(read)

    async def sockets(self) -> int:
        return await self.on_server(lambda: len(self.sio.eio.sockets))

    def metrics(self) -> Samples:
        return scrape(self.url + "/metrics", authorization=f"Bearer {TOKEN}")

    def tasks(self) -> float:
        """The ``chat_asyncio_tasks`` gauge: the least of three scrapes (a periodic job's run
        or the scrape's own request may add one for a moment)."""
        return min(value(self.metrics(), "chat_asyncio_tasks") for _ in range(3))

    def connections(self) -> float:
        return value(self.metrics(), "chat_connections", provider="dev")

    def deliveries(self) -> dict[str, float]:
        samples = self.metrics()
        return {p: value(samples, "chat_deliveries_total", path=p) for p in ("direct", "queued")}


@contextmanager
def lean_server(
    monkeypatch: pytest.MonkeyPatch,
    devidp: DevIdp,
    database_url: str,
    *,
    sessions: dict[str, Any] | None = None,
    admin: dict[str, Any] | None = None,
    **server: Any,
) -> Iterator[Live]:
    """A real server without rate limits in the way (metrics on the main port, behind a
    token), and the GuardedServer its app factory built."""
    built: list[GuardedServer] = []
    original = composition._socketio_server

    def capture(settings: Settings, cluster: Any) -> GuardedServer:
        sio = original(settings, cluster)
        built.append(sio)
        return sio

    monkeypatch.setattr(composition, "_socketio_server", capture)
    settings = make_settings(
        database_url=database_url,
        providers=[dev_provider(devidp.issuer)],
        sessions={**LIFTED, "max_connections_per_user": 50, **(sessions or {})},
        admin=admin,
        metrics={"port": 0, "token": TOKEN},
        **{"frames_per_second": 10_000, "frame_burst": 10_000, **server},
    )
    with LiveServer(settings) as live:
        [sio] = built
        yield Live(live, sio)


@pytest.fixture
def lean(monkeypatch: pytest.MonkeyPatch, devidp: DevIdp, sqlite_url: str) -> Iterator[Live]:
    with lean_server(monkeypatch, devidp, sqlite_url) as live:
        yield live


async def eventually(check: Callable[[], Any], what: str, within: float = 10.0) -> None:
    """Wait (a generous deadline) until ``await check()`` (or ``check()``) is true."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)


async def close_all(clients: list[ChatClient]) -> None:
    for client in clients:
        await client.close()


# -- 1. WebSocket-first: a LeanSocket; long-polling: Engine.IO's own, and it still works ------------


async def test_a_websocket_client_is_served_by_a_lean_socket(
    lean: Live, accounts: Accounts
) -> None:
    alice = await connected(lean.url, accounts.auth("alice"))
    try:
        assert list((await lean.socket_kinds()).values()) == [LeanSocket.__name__]
        assert (await alice.call("join", ROOM))["ok"]
        ack = await alice.call("send_message", {**ROOM, "text": "lean"})
        assert ack["ok"], ack
        assert alice.posted == [ack["message"]]  # her own copy came before the ack
    finally:
        await alice.close()


async def polled(polling: Polling, done: Callable[[list[str]], bool]) -> list[str]:
    """Long-poll (answering pings) until ``done(packets seen)``; returns them."""
    seen: list[str] = []
    async with asyncio.timeout(20):
        while not done(seen):
            response = await polling.get()
            assert response.status_code == 200, response.text
            for packet in response.text.split("\x1e"):
                if packet == "2":
                    await polling.post("3")
                else:
                    seen.append(packet)
    return seen


def posted_texts(packets: list[str]) -> list[str]:
    return [json.loads(p[2:])[1]["text"] for p in packets if p.startswith('42["message_posted",')]


async def test_a_long_polling_client_keeps_engineios_socket_and_is_served(
    monkeypatch: pytest.MonkeyPatch, devidp: DevIdp, sqlite_url: str, accounts: Accounts
) -> None:
    with lean_server(
        monkeypatch, devidp, sqlite_url, websocket_only=False, allowed_origins=[ORIGIN]
    ) as live:
        polling = await connected_polling(live.url, accounts.auth("bob"))
        watcher = await connected(live.url, accounts.auth("carol"))  # on a WebSocket
        try:
            kinds = await live.socket_kinds()
            assert kinds.pop(polling.sid) == AsyncSocket.__name__  # Engine.IO's own
            assert list(kinds.values()) == [LeanSocket.__name__]  # the WebSocket's
            await polling.post('420["join",{"room":"general"}]')
            joined = await polled(polling, lambda seen: any(p.startswith("430") for p in seen))
            assert json.loads(next(p for p in joined if p.startswith("430"))[3:])[0]["ok"]
            assert (await watcher.call("join", ROOM))["ok"]
            # sent over long-polling: acked there, and the WebSocket member gets it
            await polling.post('421["send_message",{"room":"general","text":"by polling"}]')
            sent = await polled(
                polling,
                lambda seen: any(p.startswith("431") for p in seen) and bool(posted_texts(seen)),
            )
            ack = json.loads(next(p for p in sent if p.startswith("431"))[3:])[0]
            assert ack["ok"], ack
            assert posted_texts(sent) == ["by polling"]
            await eventually(lambda: len(watcher.posted) == 1, "the WebSocket member's copy")
            assert watcher.posted == [ack["message"]]
            # sent over the WebSocket: received over long-polling
            assert (await watcher.call("send_message", {**ROOM, "text": "to polling"}))["ok"]
            received = await polled(polling, lambda seen: bool(posted_texts(seen)))
            assert posted_texts(received) == ["to polling"]
        finally:
            await watcher.close()
            await polling.close()


# -- 2. an idle authenticated connection holds its connection's task, nothing more -------------------

IDLE_CONNECTIONS = 20
# Per connection: uvicorn's ASGI task, and nothing else. Engine.IO's own socket adds a writer,
# the queue get it waits in, a reader's wait and a sleeping ping: 5 tasks per connection.
MAX_TASKS_PER_IDLE_CONNECTION = 1.5


async def test_idle_authenticated_connections_hold_only_their_connection_task(
    lean: Live, accounts: Accounts
) -> None:
    first = await connected(lean.url, accounts.auth("alice"))  # Engine.IO's service task starts
    clients: list[ChatClient] = []
    try:
        await eventually(lean.all_idle, "the first connection idle")
        before = lean.tasks()
        for n in range(IDLE_CONNECTIONS):
            client = await connected(lean.url, accounts.auth(USERS[n % len(USERS)]))
            clients.append(client)
            assert (await client.call("join", ROOM))["ok"]
        await eventually(lean.all_idle, "every connection idle")
        await asyncio.sleep(0.5)  # idle a while
        after = lean.tasks()
        kinds = await lean.socket_kinds()
        assert lean.connections() == IDLE_CONNECTIONS + 1
    finally:
        await close_all(clients)
        await first.close()
    grown = after - before
    assert list(kinds.values()) == [LeanSocket.__name__] * (IDLE_CONNECTIONS + 1)
    assert grown >= IDLE_CONNECTIONS - 2, (before, after)  # each one's ASGI task is counted
    assert grown <= MAX_TASKS_PER_IDLE_CONNECTION * IDLE_CONNECTIONS, (
        f"{grown / IDLE_CONNECTIONS:.2f} tasks per idle connection ({before} -> {after})"
    )


# -- 4. acks and broadcasts mixed: all delivered in order, then every queue idle again -------------


async def test_acks_and_broadcasts_mixed_leave_every_queue_idle_and_direct_writes_resume(
    lean: Live, accounts: Accounts
) -> None:
    clients = [await connected(lean.url, accounts.auth(user)) for user in USERS]
    per_client = 25
    total = per_client * len(clients)
    try:
        for client in clients:
            assert (await client.call("join", ROOM))["ok"]

        async def flood(index: int, client: ChatClient) -> list[dict[str, Any]]:
            async def one(n: int) -> dict[str, Any]:
                ack = await client.call("send_message", {**ROOM, "text": f"c{index}-{n}"})
                assert ack["ok"], ack
                message: dict[str, Any] = ack["message"]
                return message

            return list(await asyncio.gather(*(one(n) for n in range(per_client))))

        sent = await asyncio.gather(*(flood(i, c) for i, c in enumerate(clients)))
        await eventually(lambda: all(len(c.posted) >= total for c in clients), "every copy")
        acked = sorted(m["id"] for messages in sent for m in messages)
        order = [m["id"] for m in clients[0].posted]
        assert sorted(order) == acked  # each once
        for client in clients:
            assert [m["id"] for m in client.posted] == order  # one order for every member
        await eventually(lean.all_idle, "every queue idle after the burst")
        before = lean.deliveries()
        last = await clients[0].call("send_message", {**ROOM, "text": "after the burst"})
        assert last["ok"], last
        await eventually(lambda: all(len(c.posted) == total + 1 for c in clients), "the last")
        grown = {path: lean.deliveries()[path] - before[path] for path in before}
    finally:
        await close_all(clients)
    assert all(c.posted[-1] == last["message"] for c in clients)
    assert grown == {"direct": len(clients), "queued": 0}  # every member idle: written directly


# -- 5. a session ended by the server: its WebSocket is closed ------------------------------------


@pytest.fixture
def admin_lean(monkeypatch: pytest.MonkeyPatch, devidp: DevIdp, sqlite_url: str) -> Iterator[Live]:
    with lean_server(
        monkeypatch,
        devidp,
        sqlite_url,
        admin={**ADMIN_GROUPS, "sync_seconds": 0.2},
        sessions={"presence_seconds": 0.2},
        connect_timeout_seconds=0.5,
    ) as live:
        yield live


async def end_sessions_of(live: Live, accounts: Accounts, name: str) -> None:
    dana = headers(accounts, "dana")
    async with httpx.AsyncClient(base_url=live.url) as http:
        user = await find_user(http, dana, name)
        ended = await http.post(f"{PREFIX}/users/{user['id']}/end-sessions", headers=dana)
    assert ended.status_code == 200, ended.text
    assert ended.json()["ended_sessions"] == 1


async def test_an_ended_session_closes_the_websocket_and_the_client_sees_it(
    admin_lean: Live, accounts: Accounts
) -> None:
    alice = EventClient()
    await alice.connect(admin_lean.url, accounts.auth("alice"))
    try:
        assert list((await admin_lean.socket_kinds()).values()) == [LeanSocket.__name__]
        await end_sessions_of(admin_lean, accounts, "alice anderson")
        assert await alice.wait_event("session_ended") == {"reason": "logged_out"}
        await asyncio.wait_for(alice.disconnected.wait(), 10)
        await eventually(lambda: admin_lean.connections() == 0, "chat_connections at 0")
        await eventually(_no_sockets(admin_lean), "the Engine.IO socket gone")
    finally:
        await alice.close()


def _no_sockets(live: Live) -> Callable[[], Any]:
    async def check() -> bool:
        return await live.sockets() == 0

    return check


async def test_a_client_that_stays_after_its_session_ended_is_closed_by_the_reaper(
    admin_lean: Live, accounts: Accounts
) -> None:
    """The session ends (Socket.IO's disconnect), the client keeps its WebSocket open: the
    reaper closes the connection (``close_transport``), Engine.IO's close packet last."""
    async with raw_socket(admin_lean.url, accounts.auth("alice")) as ws:
        assert list((await admin_lean.socket_kinds()).values()) == [LeanSocket.__name__]
        await end_sessions_of(admin_lean, accounts, "alice anderson")
        seen: list[str] = []
        async with asyncio.timeout(10):  # the reaper's timeout is 0.5 s
            while not is_closed(message := await ws.receive()):
                seen.append(str(message.data))
    assert seen == ['42["session_ended",{"reason":"logged_out"}]', "41", "1"]
    await eventually(_no_sockets(admin_lean), "the Engine.IO socket gone")
    assert admin_lean.connections() == 0


# -- 6. clients that leave leave no socket and no task behind --------------------------------------


async def test_clients_that_leave_leave_no_socket_and_no_task_behind(
    lean: Live, accounts: Accounts
) -> None:
    warm = await connected(lean.url, accounts.auth("alice"))  # Engine.IO's service task starts
    await warm.close()
    await eventually(_no_sockets(lean), "the first socket gone")
    before = lean.tasks()
    clients = [await connected(lean.url, accounts.auth(USERS[n % 4])) for n in range(8)]
    async with AsyncExitStack() as stack:
        raws = [
            await stack.enter_async_context(raw_socket(lean.url, accounts.auth(USERS[n % 4])))
            for n in range(6)
        ]
        peers = [await bare_connected(lean, accounts.auth(USERS[n % 4])) for n in range(6)]
        assert lean.connections() == 20
        kinds = await lean.socket_kinds()
        assert list(kinds.values()) == [LeanSocket.__name__] * 20
        assert lean.tasks() > before  # they are counted while they live
        await close_all(clients)  # Socket.IO and Engine.IO close packets, then the close frame
        for ws in raws:
            await ws.close()  # a close frame alone
        for peer in peers:
            peer.abort()  # the TCP connection just gone
        del raws
    await eventually(lambda: lean.connections() == 0, "chat_connections back to 0")
    await eventually(_no_sockets(lean), "no Engine.IO socket left")
    await eventually(lambda: lean.tasks() <= before, f"tasks back to {before}")


async def bare_connected(live: Live, auth: object) -> BareTcpClient:
    peer = await BareTcpClient.open(int(live.url.rsplit(":", 1)[1]))
    assert (await peer.text()).startswith("0")
    peer.send_text("40" + json.dumps(auth))
    assert (await peer.text()).startswith("40")
    return peer
