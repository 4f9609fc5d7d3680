"""Outlets: a WebSocket's outgoing frames written straight to its transport, when that is safe.

Engine.IO sends every packet through a queue and a writer task per socket, then the ASGI
``send`` of the web server, which builds the WebSocket frame. For a broadcast the frame is the
same for every recipient (a server's frames are not masked), so it can be built once and
written to each recipient's transport: no task, no queue, no per-recipient frame.

:class:`DirectFrames` is an ASGI middleware, outermost, that gives each WebSocket connection an
:class:`Outlet` (in its scope, under :data:`OUTLET_KEY`) when the web server is uvicorn's
``websockets-sansio`` protocol; any other server gets none and everything goes the usual way.
An outlet writes only when nothing else is in the way, so frames never overtake each other:
the connection is open and not paused by flow control, no extension is negotiated, and no
ASGI ``send`` is in progress; the caller also checks that Engine.IO's queue is idle.

The frames an outlet takes during one turn of the event loop go out together at its end, in
one ``write`` (one system call per connection, not one per frame: the broadcasts of one
committed batch reach a member at once). An ASGI ``send`` writes an outlet's frames first.
"""

import asyncio
import struct
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

OUTLET_KEY = "sso_chat.outlet"
_TEXT_FIN = 0x81  # FIN + opcode 1 (text); a server's frames carry no mask


def text_frame(payload: str) -> bytes:
    """One unfragmented, unmasked WebSocket text frame (RFC 6455 §5.2) carrying ``payload``."""
    data = payload.encode()
    size = len(data)
    if size < 126:
        head = struct.pack("!BB", _TEXT_FIN, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", _TEXT_FIN, 126, size)
    else:
        head = struct.pack("!BBQ", _TEXT_FIN, 127, size)
    return head + data


class Flusher:
    """Writes the frames outlets took during this turn of the event loop, at its end."""

    __slots__ = ("_dirty", "_scheduled")

    def __init__(self) -> None:
        self._dirty: list[Outlet] = []
        self._scheduled = False

    def add(self, outlet: "Outlet") -> None:
        self._dirty.append(outlet)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        for outlet in dirty:
            outlet.flush()


class Outlet:
    """One WebSocket connection's transport, for frames that may skip the ASGI ``send``."""

    __slots__ = ("_flusher", "_pending", "_protocol", "_send", "_sending")

    def __init__(self, protocol: Any, send: Send, flusher: Flusher | None = None) -> None:
        self._protocol = protocol
        self._send = send
        self._sending = 0  # ASGI sends under way: one waiting for the buffer holds its frame
        self._pending: list[bytes] | None = None  # taken this turn, written by the flusher
        self._flusher = flusher

    @classmethod
    def of(cls, send: Send, flusher: Flusher | None = None) -> "Outlet | None":
        """An outlet for the connection behind uvicorn's own ``send``, else ``None``.
        Without a ``flusher`` each frame is written at once."""
        protocol = getattr(send, "__self__", None)
        if type(protocol) is not WebSocketsSansIOProtocol:
            return None
        if getattr(send, "__func__", None) is not WebSocketsSansIOProtocol.send:
            return None
        return cls(protocol, send, flusher)

    def flush(self) -> None:
        """Write the frames taken so far, unless the connection closed meanwhile (its client
        is gone, or a close frame went out: nothing may follow it)."""
        frames, self._pending = self._pending, None
        protocol = self._protocol
        if not frames or protocol.close_sent or protocol.transport.is_closing():
            return
        protocol.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    async def send(self, message: Message) -> None:
        """The ASGI ``send`` the application gets: counted, so a direct write waits its turn,
        and after the frames this outlet took, so it never overtakes them."""
        if self._pending:
            self.flush()
        self._sending += 1
        try:
            await self._send(message)
        finally:
            self._sending -= 1

    def write(self, frame: bytes) -> bool:
        """Write one frame now if nothing can be overtaken or lost; ``False`` means "queue it"."""
        protocol = self._protocol
        if (
            self._sending
            or not protocol.handshake_complete
            or protocol.close_sent
            or protocol.disconnected
            or not protocol.writable.is_set()  # paused: the queue and its bound take over
            or protocol.conn.extensions  # a negotiated extension (deflate) changes frames
        ):
            return False
        if protocol.transport.is_closing():
            return False
        if self._flusher is None:
            protocol.transport.write(frame)
        elif self._pending is None:
            self._pending = [frame]
            self._flusher.add(self)
        else:
            self._pending.append(frame)
        return True


class DirectFrames:
    """Gives each WebSocket connection served by uvicorn's sansio protocol an :class:`Outlet`."""

    def __init__(self, app: ASGIApp, *, enabled: bool = True) -> None:
        self._app = app
        self._enabled = enabled
        self._flusher = Flusher()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outlet = (
            Outlet.of(send, self._flusher)
            if self._enabled and scope["type"] == "websocket"
            else None
        )
        if outlet is None:
            await self._app(scope, receive, send)
            return
        scope[OUTLET_KEY] = outlet
        await self._app(scope, receive, outlet.send)
