"""LeanSocket in-process: a real GuardedServer behind DirectFrames, served by uvicorn's own
h11 + websockets-sansio protocols on 127.0.0.1 in the test's event loop, with real clients
(aiohttp WebSockets, python-socketio's AsyncClient, and bare TCP for an abrupt drop).

Everything here runs on one event loop, so the server's tasks, sockets and queues are read
directly: ``asyncio.all_tasks()`` is the server's tasks plus the clients' (the bare clients
hold none).
"""

import asyncio
import functools
import itertools
import json
import struct
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import socketio
import uvicorn
from engineio.async_socket import AsyncSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode

from server.gateway.outlet import DirectFrames
from server.gateway.server import GuardedServer
from server.gateway.sockets import LeanSocket

REASON = GuardedServer.reason  # python-socketio's disconnect reasons (Engine.IO's strings)
ASGI_TASK = "WebSocketsSansIOProtocol.run_asgi"  # uvicorn's one task per WebSocket connection
WRITER_TASK = "LeanSocket._write"


# -- the harness: a real server in this loop -------------------------------------------------------


@dataclass
class Harness:
    sio: GuardedServer
    server: uvicorn.Server
    port: int
    connects: list[str] = field(default_factory=list)  # Socket.IO sids, as connected
    disconnects: list[tuple[str, str]] = field(default_factory=list)  # (sid, reason)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket"

    def socket(self, eio_sid: str) -> AsyncSocket:
        socket: AsyncSocket = self.sio.eio.sockets[eio_sid]
        return socket

    def protocol(self) -> WebSocketsSansIOProtocol:
        """uvicorn's protocol object serving the one WebSocket open (the tests that pause a
        transport have one)."""
        protocols = [
            c
            for c in self.server.server_state.connections
            if isinstance(c, WebSocketsSansIOProtocol)
        ]
        assert len(protocols) == 1, protocols
        return protocols[0]

    def asgi_tasks(self) -> int:
        return len(self.server.server_state.tasks)

    def websockets(self) -> int:
        return sum(
            isinstance(c, WebSocketsSansIOProtocol) for c in self.server.server_state.connections
        )


@asynccontextmanager
async def serving(
    *,
    ping_interval: float = 25,
    ping_timeout: float = 20,
    ws_ping_interval: float | None = 20.0,
    ws_ping_timeout: float | None = 20.0,
) -> AsyncIterator[Harness]:
    """GuardedServer (a bare namespace: connect, disconnect, ``echo`` acked with its data)
    behind DirectFrames and Socket.IO's ASGI app, on uvicorn's protocols, in this loop."""
    sio = GuardedServer(async_mode="asgi", ping_interval=ping_interval, ping_timeout=ping_timeout)
    config = uvicorn.Config(
        DirectFrames(socketio.ASGIApp(sio)),
        host="127.0.0.1",
        port=0,
        http="h11",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_ping_interval=ws_ping_interval,
        ws_ping_timeout=ws_ping_timeout,
        lifespan="off",
        log_config=None,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup()  # no signal handlers, no main loop: this test's loop serves it
    port = int(server.servers[0].sockets[0].getsockname()[1])
    harness = Harness(sio, server, port)

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        harness.connects.append(sid)
        return True

    async def disconnect(sid: str, reason: str) -> None:
        harness.disconnects.append((sid, reason))

    async def echo(sid: str, data: Any) -> Any:
        return data

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    sio.on("echo", echo)
    try:
        yield harness
    finally:
        server.should_exit = True
        await server.shutdown()
        with suppress(TimeoutError):
            async with asyncio.timeout(5):
                await sio.shutdown()  # Engine.IO's service task, and any socket left


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with serving() as harness:
        yield harness


async def eventually(check: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Wait (a generous deadline) until ``check()`` holds."""
    try:
        async with asyncio.timeout(within):
            while True:
                if check():
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not within {within} s: {what}") from None


def task_kinds() -> Counter[str]:
    """The live tasks on this loop, by the qualified name of their coroutine."""
    kinds: Counter[str] = Counter()
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        kinds[getattr(coro, "__qualname__", repr(coro))] += 1
    return kinds


def writers() -> int:
    return task_kinds()[WRITER_TASK]


# -- clients ----------------------------------------------------------------------------------------


class RawClient:
    """Engine.IO / Socket.IO spoken by hand over an aiohttp WebSocket: it answers nothing
    unless told, so what the server sends (and when it closes) is seen as it is."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.session = session
        self.ws = ws
        self.eio_sid = ""
        self.sid = ""
        self.open_packet: dict[str, Any] = {}

    @classmethod
    async def open(
        cls, harness: Harness, *, connect: bool = True, autoping: bool = True
    ) -> "RawClient":
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(harness.ws_url, autoping=autoping)
        except BaseException:
            await session.close()
            raise
        client = cls(session, ws)
        opened = await client.text()
        assert opened.startswith("0"), opened
        client.open_packet = json.loads(opened[1:])
        client.eio_sid = client.open_packet["sid"]
        if connect:
            await ws.send_str("40")
            answer = await client.text()
            assert answer.startswith("40"), answer
            client.sid = json.loads(answer[2:])["sid"]
        return client

    async def text(self, within: float = 10.0) -> str:
        message = await self.ws.receive(timeout=within)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        return str(message.data)

    async def texts(self, count: int, within: float = 10.0) -> list[str]:
        return [await self.text(within) for _ in range(count)]

    async def closed_within(self, seconds: float) -> tuple[bool, list[str]]:
        """Whether the server closes the WebSocket within ``seconds``; and the texts before."""
        seen: list[str] = []
        try:
            async with asyncio.timeout(seconds):
                while True:
                    message = await self.ws.receive()
                    if message.type is aiohttp.WSMsgType.TEXT:
                        seen.append(str(message.data))
                        continue
                    if message.type in _CONTROL:  # with autoping off: seen, not answered
                        continue
                    return message.type in _CLOSED, seen
        except TimeoutError:
            return False, seen

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()


_CLOSED = {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING}
_CONTROL = {aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG}


@asynccontextmanager
async def raw_client(harness: Harness, **options: Any) -> AsyncIterator[RawClient]:
    client = await RawClient.open(harness, **options)
    try:
        yield client
    finally:
        await client.close()


class BareTcpClient:
    """A WebSocket client on a bare TCP stream (frames masked, as a client's must be), so the
    test can drop the connection without a close frame: ``abort`` is a vanished peer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> "BareTcpClient":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            + f"Host: 127.0.0.1:{port}\r\n".encode()
            + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101 "), head
        return cls(reader, writer)

    def send_text(self, text: str) -> None:
        self.writer.write(Frame(Opcode.TEXT, text.encode()).serialize(mask=True, extensions=[]))

    async def text(self, within: float = 10.0) -> str:
        async with asyncio.timeout(within):
            first, second = await self.reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
            data = await self.reader.readexactly(size)
        assert first == 0x81, (first, data)  # FIN + text: the server sends nothing else here
        return data.decode()

    def abort(self) -> None:
        self.writer.transport.abort()


class SioClient:
    """python-socketio's AsyncClient, with the events it got and its disconnect recorded."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[Any] = []
        self.disconnected = asyncio.Event()
        self.sio.on("n", self._on_n)
        self.sio.on("disconnect", self._on_disconnect)

    async def _on_n(self, data: Any) -> None:
        self.events.append(data)

    async def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()

    async def connect(self, harness: Harness, transports: list[str]) -> None:
        await self.sio.connect(harness.url, transports=transports, wait_timeout=10)

    async def echo(self, data: Any) -> Any:
        return await self.sio.call("echo", data, timeout=10)

    async def close(self) -> None:
        await self.sio.disconnect()


def only_socket(harness: Harness) -> AsyncSocket:
    sockets = list(harness.sio.eio.sockets.values())
    assert len(sockets) == 1, sockets
    socket: AsyncSocket = sockets[0]
    return socket


def holds(socket: AsyncSocket, count: int) -> bool:
    return bool(socket.queue.qsize() == count)


def idle(socket: AsyncSocket) -> bool:
    """Nothing queued or being written, no writer task: as an idle LeanSocket is."""
    return bool(socket.queue.idle) and socket.queue.empty() and writers() == 0


# -- adopt -----------------------------------------------------------------------------------------


class OtherSocket(AsyncSocket):  # type: ignore[misc]  # engineio ships no type information
    pass


def test_adopt_takes_only_a_fresh_engineio_socket() -> None:
    eio = GuardedServer(async_mode="asgi").eio
    fresh = AsyncSocket(eio, "fresh")
    LeanSocket.adopt(fresh)
    assert type(fresh) is LeanSocket
    assert fresh.sid == "fresh"  # the same object, its state kept
    assert fresh.queue is not None

    connected = AsyncSocket(eio, "connected")
    connected.connected = True  # e.g. serving long-polling already
    LeanSocket.adopt(connected)
    assert type(connected) is AsyncSocket

    other = OtherSocket(eio, "other")
    LeanSocket.adopt(other)
    assert type(other) is OtherSocket


# -- 1. which connections get a LeanSocket ----------------------------------------------------------


async def test_a_websocket_first_connection_is_served_by_a_lean_socket(harness: Harness) -> None:
    async with raw_client(harness) as client:
        socket = harness.socket(client.eio_sid)
        assert type(socket) is LeanSocket
        assert socket.upgraded
        assert socket.connected
        await client.ws.send_str('421["echo",{"n":1}]')
        assert await client.text() == '431[{"n":1}]'
        await harness.sio.emit("n", 7, to=client.sid)
        assert await client.text() == '42["n",7]'


@pytest.mark.parametrize(
    "transports", [["polling"], ["polling", "websocket"]], ids=["polling", "upgraded"]
)
async def test_a_connection_that_starts_on_long_polling_keeps_engineios_socket(
    harness: Harness, transports: list[str]
) -> None:
    client = SioClient()
    await client.connect(harness, transports)
    try:
        if "websocket" in transports:  # the upgrade happens after the connect
            await eventually(lambda: client.sio.transport() == "websocket", "the upgrade")
            await eventually(lambda: only_socket(harness).upgraded, "the server's upgrade")
        socket = only_socket(harness)
        assert type(socket) is AsyncSocket  # Engine.IO's own, its own handlers and tasks
        assert await client.echo({"via": transports[-1]}) == {"via": transports[-1]}
        for n in range(5):
            await harness.sio.emit("n", n, to=harness.connects[0])
        await eventually(lambda: len(client.events) == 5, "five events")
        assert client.events == [0, 1, 2, 3, 4]
    finally:
        await client.close()
    await eventually(lambda: not harness.sio.eio.sockets, "the socket gone after the disconnect")


# -- 2. an idle connection holds its ASGI task and nothing else ------------------------------------


async def test_idle_connections_hold_only_their_asgi_task(harness: Harness) -> None:
    count = 10
    async with raw_client(harness) as first:  # Engine.IO's service task starts with the first
        await eventually(lambda: idle(harness.socket(first.eio_sid)), "the first idle")
        before = task_kinds()
        clients = [await RawClient.open(harness) for _ in range(count)]
        try:
            sockets = [harness.socket(c.eio_sid) for c in clients]
            await eventually(lambda: all(idle(s) for s in sockets), "every socket idle")
            grown = task_kinds() - before
            assert grown == Counter({ASGI_TASK: count}), grown
            for n, client in enumerate(clients):  # some traffic each way, then idle again
                await client.ws.send_str(f'42{n}["echo",{n}]')
                assert await client.text() == f"43{n}[{n}]"
                await harness.sio.emit("n", n, to=client.sid)
                assert await client.text() == f'42["n",{n}]'
            await eventually(lambda: all(idle(s) for s in sockets), "every socket idle again")
            assert task_kinds() - before == Counter({ASGI_TASK: count})
            assert all(type(s) is LeanSocket for s in sockets)
        finally:
            for client in clients:
                await client.close()


# -- 3. pings --------------------------------------------------------------------------------------


async def test_pings_come_every_interval_and_a_client_that_answers_stays() -> None:
    interval = 1.0
    async with serving(ping_interval=interval, ping_timeout=1) as harness:
        async with raw_client(harness) as client:
            assert client.open_packet["pingInterval"] == 1000
            socket = harness.socket(client.eio_sid)
            pinged_at = []
            for _ in range(4):
                assert await client.text(within=10) == "2"
                pinged_at.append(time.monotonic())
                await client.ws.send_str("3")
            # the next ping is due an interval after the pong: never sooner, never two at once
            gaps = [b - a for a, b in itertools.pairwise(pinged_at)]
            assert all(gap >= 0.9 * interval for gap in gaps), gaps
            assert harness.sio.eio.sockets.get(client.eio_sid) is socket
            assert not socket.closing
            assert not socket.closed
            assert harness.disconnects == []
            await client.ws.send_str('425["echo","still here"]')
            assert await client.text() == '435["still here"]'
            assert harness.asgi_tasks() == 1


async def test_a_socketio_client_answering_pings_stays_connected_across_intervals() -> None:
    async with serving(ping_interval=1, ping_timeout=1) as harness:
        client = SioClient()
        await client.connect(harness, ["websocket"])
        try:
            socket = only_socket(harness)
            assert type(socket) is LeanSocket
            await asyncio.sleep(4.5)  # four intervals, each a ping and its pong
            assert client.sio.connected
            assert only_socket(harness) is socket
            assert not socket.closed
            assert await client.echo("after four pings") == "after four pings"
            assert harness.disconnects == []
        finally:
            await client.close()


async def test_a_client_that_stops_answering_pings_is_disconnected() -> None:
    async with serving(ping_interval=1, ping_timeout=1) as harness:
        async with raw_client(harness) as client:  # handshake and connect done; then silence
            await eventually(
                lambda: bool(harness.disconnects), "the disconnect (1 + 1 s and a sweep)"
            )
            assert harness.disconnects == [(client.sid, REASON.PING_TIMEOUT)]
            await eventually(lambda: not harness.sio.eio.sockets, "the socket removed")


# Every way Engine.IO ends a session, and the WebSocket under it must close too: otherwise the
# connection, its ASGI task and uvicorn's protocol stay for as long as the peer answers
# WebSocket pings (aiohttp does by itself, as browsers do). Engine.IO's own socket closes it
# within ping_interval + ping_timeout in each of these cases.
async def _ping_timeout(harness: Harness, client: RawClient) -> None:
    pass  # the client answers no ping


async def _client_close_packet(harness: Harness, client: RawClient) -> None:
    await client.ws.send_str("1")  # Engine.IO's close packet, the WebSocket left open


async def _close_and_wait(harness: Harness, client: RawClient) -> None:
    await asyncio.wait_for(harness.socket(client.eio_sid).close(wait=True), 5)


async def _eio_disconnect(harness: Harness, client: RawClient) -> None:
    await asyncio.wait_for(harness.sio.eio.disconnect(client.eio_sid), 5)


async def _close_transport(harness: Harness, client: RawClient) -> None:
    await harness.sio.close_transport(client.eio_sid)


@pytest.mark.parametrize(
    "end",
    [_ping_timeout, _client_close_packet, _close_and_wait, _eio_disconnect, _close_transport],
    ids=["ping-timeout", "client-close-packet", "close-wait", "eio-disconnect", "close-transport"],
)
async def test_an_ended_engineio_session_closes_its_websocket(
    end: Callable[[Harness, RawClient], Any],
) -> None:
    async with serving(ping_interval=1, ping_timeout=1) as harness:
        async with raw_client(harness) as client:
            assert type(harness.socket(client.eio_sid)) is LeanSocket
            await end(harness, client)
            closed, _ = await client.closed_within(10)  # ping_interval + ping_timeout = 2 s
            assert closed, "the server left the WebSocket open"
            await eventually(lambda: harness.asgi_tasks() == 0, "the connection's task ended")
            assert len(harness.disconnects) == 1
            assert not harness.sio.eio.sockets


async def test_uvicorns_keepalive_closes_a_peer_that_answers_nothing() -> None:
    """The other guard the module names: a peer that answers no WebSocket ping either."""
    async with serving(
        ping_interval=25, ping_timeout=20, ws_ping_interval=0.5, ws_ping_timeout=0.5
    ) as harness:
        async with raw_client(harness, autoping=False) as client:
            closed, _ = await client.closed_within(10)
            assert closed
            await eventually(lambda: not harness.sio.eio.sockets, "the socket removed")
            assert harness.disconnects == [(client.sid, REASON.TRANSPORT_CLOSE)]
            await eventually(lambda: harness.asgi_tasks() == 0, "the connection's task ended")


# -- 4. the writer: runs only while something is queued, in order, then idle ------------------------


async def test_packets_queued_while_the_transport_is_paused_arrive_in_order(
    harness: Harness,
) -> None:
    """Broadcasts and acks queued behind a paused transport (no direct write may pass them):
    all of them arrive, in the order they were queued; then the queue is idle, no writer task
    is left, and the next broadcast is written directly again."""
    async with raw_client(harness) as client:
        socket = harness.socket(client.eio_sid)
        await eventually(lambda: idle(socket), "idle after the connect")
        protocol = harness.protocol()
        protocol.pause_writing()  # as asyncio does when the peer stops reading
        await harness.sio.emit("n", 0, to=client.sid)
        expected = ['42["n",0]']
        # the writer it woke takes that packet, and its send waits for the transport
        await eventually(lambda: socket.queue.qsize() == 0 and writers() == 1, "the writer held")
        queued = 0  # behind the packet the writer holds
        for batch in range(4):
            for n in range(batch * 10 + 1, batch * 10 + 11):
                await harness.sio.emit("n", n, to=client.sid)
                expected.append(f'42["n",{n}]')
            queued += 10
            await client.ws.send_str(f'42{batch}["echo","ack {batch}"]')  # answered meanwhile
            expected.append(f'43{batch}["ack {batch}"]')
            queued += 1
            await eventually(functools.partial(holds, socket, queued), f"ack {batch} queued")
        assert harness.sio.deliveries == {"direct": 0, "queued": 41}
        assert writers() == 1  # one writer for the whole burst, waiting for the transport
        assert not socket.queue.idle
        protocol.resume_writing()
        assert await client.texts(len(expected)) == expected
        await eventually(lambda: idle(socket), "idle after the burst")
        await asyncio.wait_for(socket.queue.join(), 1)  # every get matched by task_done
        await harness.sio.emit("n", "direct", to=client.sid)
        assert await client.text() == '42["n","direct"]'
        assert harness.sio.deliveries == {"direct": 1, "queued": 41}
        assert writers() == 0


async def test_a_ping_due_during_a_burst_goes_out_behind_it() -> None:
    async with serving(ping_interval=1, ping_timeout=5) as harness:
        async with raw_client(harness) as client:
            socket = harness.socket(client.eio_sid)
            harness.protocol().pause_writing()
            for n in range(5):
                await harness.sio.emit("n", n, to=client.sid)
            first_ping = socket.last_ping
            await eventually(lambda: socket.last_ping != first_ping, "the ping queued", 10)
            harness.protocol().resume_writing()
            assert await client.texts(6) == [f'42["n",{n}]' for n in range(5)] + ["2"]
            await client.ws.send_str("3")
            await eventually(lambda: idle(socket), "idle after the burst and the ping")
            assert not socket.closed


# -- 5. closes: close_transport, close(wait=True) ---------------------------------------------------


async def test_close_transport_closes_the_websocket_and_the_client_sees_a_disconnect(
    harness: Harness,
) -> None:
    client = SioClient()
    await client.connect(harness, ["websocket"])
    try:
        socket = only_socket(harness)
        assert type(socket) is LeanSocket
        await harness.sio.close_transport(socket.sid)
        await asyncio.wait_for(client.disconnected.wait(), 10)
        await eventually(lambda: harness.asgi_tasks() == 0, "the connection's task ended")
        assert harness.disconnects == [(harness.connects[0], REASON.SERVER_DISCONNECT)]
        assert not harness.sio.eio.sockets
        assert writers() == 0
        assert socket.closed
    finally:
        await client.close()


async def test_close_transport_sends_what_was_queued_then_the_close(harness: Harness) -> None:
    """The ``None`` close_transport queues stops the writer only after what is ahead of it."""
    async with raw_client(harness) as client:
        socket = harness.socket(client.eio_sid)
        protocol = harness.protocol()
        protocol.pause_writing()
        for n in range(10):
            await harness.sio.emit("n", n, to=client.sid)
        await asyncio.wait_for(harness.sio.close_transport(client.eio_sid), 6)
        assert not harness.sio.eio.sockets  # gone at once; its WebSocket closes behind
        protocol.resume_writing()
        closed, seen = await client.closed_within(10)
        assert seen == [f'42["n",{n}]' for n in range(10)] + ["1"]  # Engine.IO's close last
        assert closed
        await eventually(lambda: harness.asgi_tasks() == 0, "the connection's task ended")
        assert writers() == 0
        assert socket.closed


async def test_close_with_wait_returns_once_everything_queued_was_written(
    harness: Harness,
) -> None:
    client = SioClient()
    await client.connect(harness, ["websocket"])
    try:
        socket = only_socket(harness)
        assert type(socket) is LeanSocket
        protocol = harness.protocol()
        protocol.pause_writing()
        for n in range(10):
            await harness.sio.emit("n", n, to=harness.connects[0])
        closing = asyncio.create_task(socket.close(wait=True))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not closing.done()  # the join waits for the writer, held by the transport
        protocol.resume_writing()
        await asyncio.wait_for(closing, 5)  # every get matched by task_done
        assert socket.closed
        await asyncio.wait_for(client.disconnected.wait(), 10)  # the client got the close
        assert client.events == list(range(10))  # all of it before the close
        await eventually(lambda: harness.asgi_tasks() == 0, "the connection's task ended")
        assert harness.disconnects == [(harness.connects[0], REASON.SERVER_DISCONNECT)]
    finally:
        await client.close()


# -- 6. a client that goes leaves nothing behind ----------------------------------------------------


async def _close_websocket(client: RawClient) -> None:
    await client.ws.close()  # a close frame, no Engine.IO close packet


async def _close_packet_then_websocket(client: RawClient) -> None:
    await client.ws.send_str("1")  # as Engine.IO's clients do
    await client.ws.close()


@pytest.mark.parametrize(
    "leave", [_close_websocket, _close_packet_then_websocket], ids=["close-frame", "close-packet"]
)
async def test_a_client_that_closes_its_websocket_leaves_nothing_behind(
    harness: Harness, leave: Callable[[RawClient], Any]
) -> None:
    async with raw_client(harness) as first:
        await eventually(lambda: idle(harness.socket(first.eio_sid)), "the first idle")
        before = task_kinds()
        client = await RawClient.open(harness)
        try:
            assert type(harness.socket(client.eio_sid)) is LeanSocket
            await harness.sio.emit("n", 1, to=client.sid)
            assert await client.text() == '42["n",1]'
            await leave(client)
        finally:
            await client.close()
        await eventually(lambda: client.eio_sid not in harness.sio.eio.sockets, "socket gone")
        await eventually(lambda: harness.websockets() == 1, "its connection gone")
        await eventually(lambda: task_kinds() == before, "its tasks gone")
        reasons = {REASON.TRANSPORT_CLOSE, REASON.CLIENT_DISCONNECT}
        assert [(sid, r in reasons) for sid, r in harness.disconnects] == [(client.sid, True)]
        assert list(harness.sio.eio.sockets) == [first.eio_sid]


async def test_a_vanished_peer_leaves_nothing_behind(harness: Harness) -> None:
    async with raw_client(harness) as first:
        await eventually(lambda: idle(harness.socket(first.eio_sid)), "the first idle")
        before = task_kinds()
        peer = await BareTcpClient.open(harness.port)
        opened = await peer.text()
        eio_sid = json.loads(opened[1:])["sid"]
        peer.send_text("40")
        assert (await peer.text()).startswith("40")
        assert type(harness.socket(eio_sid)) is LeanSocket
        peer.abort()  # no close frame, no close packet: the TCP connection is just gone
        await eventually(lambda: eio_sid not in harness.sio.eio.sockets, "socket gone")
        await eventually(lambda: harness.websockets() == 1, "its connection gone")
        await eventually(lambda: task_kinds() == before, "its tasks gone")
        assert [r for _, r in harness.disconnects] == [REASON.TRANSPORT_CLOSE]


async def test_a_python_socketio_client_that_disconnects_leaves_nothing_behind(
    harness: Harness,
) -> None:
    client = SioClient()
    await client.connect(harness, ["websocket"])
    socket = only_socket(harness)
    assert type(socket) is LeanSocket
    assert await client.echo("hello") == "hello"
    await client.close()
    await eventually(lambda: not harness.sio.eio.sockets, "socket gone")
    await eventually(lambda: harness.asgi_tasks() == 0, "its connection's task ended")
    assert writers() == 0
    assert socket.closed
    assert [sid for sid, _ in harness.disconnects] == harness.connects
