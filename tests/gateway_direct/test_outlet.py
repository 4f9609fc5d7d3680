"""Outlets on uvicorn's real websockets-sansio protocol: the frame they write, and when they refuse.

The protocol is uvicorn's own class, driven through a real WebSocket handshake (bytes in through
``data_received``); only its transport is a recording stand-in for the socket.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
import uvicorn
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from starlette.types import Message, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from server.gateway.outlet import OUTLET_KEY, DirectFrames, Outlet, text_frame
from server.gateway.server import GuardedServer

# -- the frame -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "a" * 125,
        "b" * 126,
        "c" * 65535,
        "d" * 65536,
        "é" * 70,  # 140 bytes from 70 characters: the length is counted in bytes
        '42["message_posted",{"text":"héllo wörld ✓ 日本語 🎉"}]',
        "🎉" * 16384,  # exactly 65536 bytes
    ],
)
def test_text_frame_is_what_websockets_serializes(payload: str) -> None:
    expected = Frame(Opcode.TEXT, payload.encode()).serialize(mask=False, extensions=[])
    assert text_frame(payload) == expected


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_text_frame_parses_back_as_one_final_text_frame(size: int) -> None:
    payload = "x" * size
    reader = StreamReader()
    reader.feed_data(text_frame(payload))
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    else:
        raise AssertionError("the frame was incomplete")
    assert frame.opcode is Opcode.TEXT
    assert frame.fin
    assert (frame.rsv1, frame.rsv2, frame.rsv3) == (False, False, False)
    assert bytes(frame.data).decode() == payload
    assert reader.at_eof() or not reader.buffer  # nothing after the frame


# -- a real protocol on a recording transport -------------------------------------------------


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.writes = 0
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closing, "written after close"
        self.written += data
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def take(self) -> bytes:
        data = bytes(self.written)
        self.written.clear()
        return data


@dataclass
class Connection:
    protocol: WebSocketsSansIOProtocol
    transport: RecordingTransport
    scope: Scope = field(default_factory=dict)
    send: Send | None = None
    finish: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def outlet(self) -> Outlet:
        outlet = self.scope.get(OUTLET_KEY)
        assert isinstance(outlet, Outlet)
        return outlet

    def take(self) -> bytes:
        """What the server wrote, once the outlet's frames of this turn went out (as the
        flusher does at the end of the loop's turn)."""
        if isinstance(self.scope.get(OUTLET_KEY), Outlet):
            self.outlet.flush()
        return self.transport.take()


def handshake(extensions: str | None = None) -> bytes:
    lines = [
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1",
        "Host: 127.0.0.1:8000",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if extensions is not None:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def received_frames(data: bytes) -> list[Frame]:
    """The frames in what a server wrote, parsed as a client does (unmasked, no extensions)."""
    reader = StreamReader()
    reader.feed_data(data)
    frames = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as done:
            frames.append(done.value)
        else:
            raise AssertionError(f"an incomplete frame in {data!r}")
    return frames


def texts(data: bytes) -> list[str]:
    frames = received_frames(data)
    assert all(f.opcode is Opcode.TEXT and f.fin for f in frames), frames
    return [bytes(f.data).decode() for f in frames]


def real_protocol(app: Any, *, deflate: bool = False) -> WebSocketsSansIOProtocol:
    config = uvicorn.Config(app, ws="websockets-sansio", ws_per_message_deflate=deflate)
    config.load()
    return WebSocketsSansIOProtocol(config, ServerState(), {}, asyncio.get_running_loop())


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def open_connection(
    *, enabled: bool = True, deflate: bool = False, offer: str | None = None
) -> Connection:
    """A WebSocket accepted by an app behind :class:`DirectFrames`, on uvicorn's protocol."""
    holder: list[Connection] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        connection = holder[0]
        connection.scope, connection.send = scope, send
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        await connection.finish.wait()

    protocol = real_protocol(DirectFrames(app, enabled=enabled), deflate=deflate)
    transport = RecordingTransport()
    holder.append(Connection(protocol, transport))
    protocol.connection_made(transport)
    protocol.data_received(handshake(offer))
    await settle()
    assert protocol.handshake_complete
    assert transport.take().startswith(b"HTTP/1.1 101 ")
    return holder[0]


@pytest.fixture
async def connection() -> AsyncIterator[Connection]:
    connection = await open_connection()
    yield connection
    connection.finish.set()
    await settle()


# -- Outlet.of ---------------------------------------------------------------------------------


class LooksLikeIt:
    def __init__(self) -> None:
        self.handshake_complete = True

    async def send(self, message: Message) -> None:
        return None


class Subclass(WebSocketsSansIOProtocol):
    pass


async def plain_send(message: Message) -> None:
    return None


def asgi_send(method: Any) -> Send:
    """uvicorn types its ``send`` with its own message types; to the ASGI app it is a Send."""
    return cast(Send, method)


async def test_an_outlet_is_made_only_for_the_protocols_own_bound_send() -> None:
    protocol = real_protocol(plain_send)
    sub = Subclass.__new__(Subclass)
    bare = WebSocketsSansIOProtocol.__new__(WebSocketsSansIOProtocol)
    assert Outlet.of(plain_send) is None
    assert Outlet.of(LooksLikeIt().send) is None
    assert Outlet.of(asgi_send(sub.send)) is None  # exactly that class: a subclass may differ
    assert Outlet.of(asgi_send(protocol.shutdown)) is None  # the protocol's, but not its send
    assert Outlet.of(asgi_send(WebSocketsSansIOProtocol.send)) is None  # unbound
    assert Outlet.of(Outlet(protocol, asgi_send(protocol.send)).send) is None  # an outlet's
    assert isinstance(Outlet.of(asgi_send(protocol.send)), Outlet)
    assert isinstance(Outlet.of(asgi_send(bare.send)), Outlet)


async def test_direct_frames_gives_a_websocket_an_outlet_wrapping_the_protocols_send(
    connection: Connection,
) -> None:
    outlet = connection.outlet
    assert connection.send == outlet.send  # the app sends through the outlet, counted
    assert connection.send is not connection.protocol.send
    assert connection.send is not None
    await connection.send({"type": "websocket.send", "text": "through asgi"})
    assert texts(connection.take()) == ["through asgi"]


async def test_disabled_direct_frames_passes_the_protocols_send_through() -> None:
    connection = await open_connection(enabled=False)
    try:
        assert OUTLET_KEY not in connection.scope
        assert connection.send == connection.protocol.send
    finally:
        connection.finish.set()
        await settle()


async def test_direct_frames_leaves_http_and_foreign_servers_alone() -> None:
    seen: list[tuple[Scope, Send]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, send))

    async def receive() -> Message:
        return {"type": "http.request"}

    protocol = real_protocol(app)
    middleware = DirectFrames(app)
    await middleware({"type": "http"}, receive, asgi_send(protocol.send))  # HTTP: no outlet
    await middleware({"type": "websocket"}, receive, plain_send)  # another web server
    assert [(OUTLET_KEY in scope, send) for scope, send in seen] == [
        (False, protocol.send),
        (False, plain_send),
    ]


# -- Outlet.write -------------------------------------------------------------------------------


async def test_an_open_idle_connection_takes_the_frame_on_its_transport(
    connection: Connection,
) -> None:
    assert connection.outlet.write(text_frame("direct"))
    assert texts(connection.take()) == ["direct"]


async def test_the_frames_of_one_loop_turn_go_out_in_one_write(connection: Connection) -> None:
    before = connection.transport.writes
    for n in range(3):
        assert connection.outlet.write(text_frame(str(n)))
    assert connection.transport.writes == before  # not yet: at the end of this turn
    await asyncio.sleep(0)
    assert connection.transport.writes == before + 1
    assert texts(connection.transport.take()) == ["0", "1", "2"]


async def test_frames_taken_before_an_asgi_close_go_out_before_the_close_frame(
    connection: Connection,
) -> None:
    assert connection.send is not None
    assert connection.outlet.write(text_frame("last words"))
    await connection.send({"type": "websocket.close", "code": 1000})
    frames = received_frames(connection.transport.take())
    assert [f.opcode for f in frames] == [Opcode.TEXT, Opcode.CLOSE]
    await asyncio.sleep(0)  # the flusher's turn: nothing may follow the close frame
    assert connection.transport.take() == b""


async def test_direct_frames_and_asgi_sends_arrive_in_the_order_they_were_made(
    connection: Connection,
) -> None:
    assert connection.send is not None
    await connection.send({"type": "websocket.send", "text": "1"})
    assert connection.outlet.write(text_frame("2"))
    await connection.send({"type": "websocket.send", "text": "3"})
    assert connection.outlet.write(text_frame("4 ✓"))
    assert texts(connection.take()) == ["1", "2", "3", "4 ✓"]


async def test_no_outlet_write_before_the_handshake_completes() -> None:
    protocol = real_protocol(plain_send)
    transport = RecordingTransport()
    protocol.connection_made(transport)
    outlet = Outlet.of(asgi_send(protocol.send))
    assert outlet is not None
    assert not outlet.write(text_frame("too early"))
    assert transport.take() == b""


async def test_no_outlet_write_after_the_close_is_sent(connection: Connection) -> None:
    assert connection.send is not None
    await connection.send({"type": "websocket.close", "code": 1000})
    assert connection.protocol.close_sent
    closing = connection.take()
    assert not connection.outlet.write(text_frame("after close"))
    assert connection.take() == b""
    assert [f.opcode for f in received_frames(closing)] == [Opcode.CLOSE]


async def test_no_outlet_write_once_disconnected(connection: Connection) -> None:
    connection.protocol.connection_lost(None)
    assert connection.protocol.disconnected
    connection.transport.closing = False  # only the disconnected flag stands in the way
    assert not connection.outlet.write(text_frame("lost"))
    assert connection.take() == b""


async def test_no_outlet_write_while_the_transport_is_paused(connection: Connection) -> None:
    connection.protocol.pause_writing()
    assert not connection.outlet.write(text_frame("paused"))
    assert connection.take() == b""
    connection.protocol.resume_writing()
    assert connection.outlet.write(text_frame("resumed"))
    assert texts(connection.take()) == ["resumed"]


async def test_no_outlet_write_when_the_transport_is_closing(connection: Connection) -> None:
    connection.transport.closing = True
    assert not connection.outlet.write(text_frame("closing"))
    assert connection.transport.written == b""


async def test_no_outlet_write_when_an_extension_was_negotiated() -> None:
    connection = await open_connection(deflate=True, offer="permessage-deflate")
    try:
        assert connection.protocol.conn.extensions  # permessage-deflate is in use
        assert not connection.outlet.write(text_frame("would need compressing"))
        assert connection.take() == b""
    finally:
        connection.finish.set()
        await settle()


async def test_an_offered_but_refused_extension_does_not_stop_direct_writes() -> None:
    connection = await open_connection(deflate=False, offer="permessage-deflate")
    try:
        assert connection.protocol.conn.extensions == []
        assert connection.outlet.write(text_frame("plain"))
        assert texts(connection.take()) == ["plain"]
    finally:
        connection.finish.set()
        await settle()


async def test_no_outlet_write_while_an_asgi_send_is_under_way(connection: Connection) -> None:
    release = asyncio.Event()
    sent: list[Message] = []

    async def slow_send(message: Message) -> None:
        await release.wait()
        sent.append(message)

    outlet = Outlet(connection.protocol, slow_send)
    pending = asyncio.create_task(outlet.send({"type": "websocket.send", "text": "slow"}))
    await settle()
    assert not pending.done()
    assert not outlet.write(text_frame("would overtake"))
    assert connection.take() == b""
    release.set()
    await pending
    assert sent == [{"type": "websocket.send", "text": "slow"}]
    assert outlet.write(text_frame("after"))
    assert texts(connection.take()) == ["after"]


async def test_an_asgi_send_that_fails_still_ends_its_turn(connection: Connection) -> None:
    async def failing_send(message: Message) -> None:
        raise OSError("gone")

    outlet = Outlet(connection.protocol, failing_send)
    with pytest.raises(OSError, match="gone"):
        await outlet.send({"type": "websocket.send", "text": "x"})
    assert outlet.write(text_frame("next"))
    assert texts(connection.take()) == ["next"]


async def test_an_asgi_send_waiting_for_a_paused_transport_holds_direct_writes_back(
    connection: Connection,
) -> None:
    """The real protocol's send waits for ``writable``; a direct frame must not jump ahead of
    the frame that send holds, even in the moment the transport resumes."""
    assert connection.send is not None
    connection.protocol.pause_writing()
    send = connection.send

    async def held() -> None:
        await send({"type": "websocket.send", "text": "held"})

    pending = asyncio.create_task(held())
    await settle()
    assert not pending.done()
    connection.protocol.writable.set()  # resumed, but the held send has not run yet
    assert not connection.outlet.write(text_frame("would overtake"))
    await pending
    assert connection.outlet.write(text_frame("after"))
    assert texts(connection.take()) == ["held", "after"]


# -- a broadcast through the real server's fan-out: no frame overtakes an earlier one ----------


@dataclass
class Recipient:
    """One WebSocket member of a room on a real :class:`GuardedServer`: its Engine.IO socket
    (real queue, real ``poll``) and its outlet on uvicorn's protocol."""

    server: GuardedServer
    socket: AsyncSocket
    connection: Connection

    async def flush(self) -> None:
        """What engineio's WebSocket writer does each time it runs: take everything queued,
        send it through the ASGI ``send`` (the outlet's, as DirectFrames arranged)."""
        assert self.connection.send is not None
        while not self.socket.queue.empty():
            packet = self.socket.queue.get_nowait()
            await self.connection.send({"type": "websocket.send", "text": packet.encode()})
        self.socket.queue.idle = True  # all it took is sent: it waits on the empty queue again

    def broadcasts(self) -> list[int]:
        return [json.loads(t[2:])[1] for t in texts(self.connection.take()) if t[:2] == "42"]


@pytest.fixture
async def recipient(connection: Connection) -> Recipient:
    server = GuardedServer(async_mode="asgi")
    eio_sid = "eio-recipient"
    socket = AsyncSocket(server.eio, eio_sid)
    socket.connected = socket.upgraded = True
    socket.queue.idle = True  # as engineio's writer, waiting in poll(), leaves it
    server.eio.sockets[eio_sid] = socket
    await server._handle_eio_connect(eio_sid, {"asgi.scope": connection.scope})  # the outlet
    sid = await server.manager.pre_connect(eio_sid, "/")
    await server.manager.enter_room(sid, "/", "room")
    return Recipient(server, socket, connection)


def ack_packet() -> eio_packet.Packet:
    return eio_packet.Packet(eio_packet.MESSAGE, '31[{"ok":true}]')


async def test_an_idle_member_gets_a_broadcast_written_directly(recipient: Recipient) -> None:
    await recipient.server.manager.emit("posted", 1, room="room")
    assert recipient.broadcasts() == [1]
    assert recipient.server.deliveries == {"direct": 1, "queued": 0}


async def test_a_member_with_packets_queued_gets_the_broadcast_behind_them(
    recipient: Recipient,
) -> None:
    recipient.socket.queue.put_nowait(ack_packet())
    await recipient.server.manager.emit("posted", 1, room="room")
    assert recipient.broadcasts() == []  # nothing jumped the queued ack
    await recipient.flush()
    assert texts(recipient.connection.take()) == ['431[{"ok":true}]', '42["posted",1]']
    assert recipient.server.deliveries == {"direct": 0, "queued": 1}


async def test_a_broadcast_decided_queued_is_not_overtaken_before_it_is_enqueued(
    recipient: Recipient,
) -> None:
    """Broadcast 1 finds an ack queued, so it goes the queued way. Then the socket's writer sends
    what is queued and broadcast 2 comes: it must not be written ahead of broadcast 1 (which
    is why a queued broadcast is put on the queue at once, never from a task)."""
    server = recipient.server
    recipient.socket.queue.put_nowait(ack_packet())
    first = asyncio.create_task(server.manager.emit("posted", 1, room="room"))
    await asyncio.sleep(0)  # broadcast 1 ran
    assert recipient.socket.queue.qsize() == 2  # behind the ack already
    await recipient.flush()  # the writer's turn: the ack goes out
    await server.manager.emit("posted", 2, room="room")  # another handler's broadcast
    await first
    await recipient.flush()
    assert recipient.broadcasts() == [1, 2]


async def test_a_broadcast_taken_off_the_queue_is_not_overtaken_before_it_is_sent(
    recipient: Recipient,
) -> None:
    """engineio's writer waits in ``poll()``; a queued broadcast wakes it. Until the writer has
    handed that packet to the ASGI send, a later broadcast must not be written ahead of it
    (on Python 3.11 ``poll`` takes the packet off the queue in a task of ``wait_for``'s, a turn
    or two before the writer itself runs)."""
    server, socket = recipient.server, recipient.socket
    assert recipient.connection.send is not None
    send = recipient.connection.send

    async def writer() -> None:  # engineio.async_socket's WebSocket writer, in effect
        while packets := await socket.poll():
            for packet in packets:
                await send({"type": "websocket.send", "text": packet.encode()})

    running = asyncio.create_task(writer())
    await settle()  # waiting in poll() on an empty queue
    await server._send_eio_packet(socket.sid, broadcast_packet(1))  # a queued delivery's task
    await asyncio.sleep(0)  # one turn of the loop: any other task may run now
    await server.manager.emit("posted", 2, room="room")
    await settle()
    socket.queue.put_nowait(None)  # engineio's way of stopping the writer
    await running
    assert recipient.broadcasts() == [1, 2]


def broadcast_packet(value: int) -> eio_packet.Packet:
    return eio_packet.Packet(eio_packet.MESSAGE, f'2["posted",{value}]')
