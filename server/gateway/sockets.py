"""LeanSocket: Engine.IO's WebSocket session, without the tasks it spends waiting.

python-engineio runs each WebSocket connection with, besides the web server's own task: a task
that sleeps until the next ping, a writer task whose every wait is an ``asyncio.wait_for`` (on
Python 3.11 a task of its own), and one more task plus a ``wait_for`` for every frame received.
Idle, that is about 10 KB per connection; busy, a few task switches per frame. Here:

- the ping is a timer (``loop.call_later``), not a sleeping task;
- the writer runs only while something is queued (most frames go out directly: ``Outlet``),
  and waits on nothing else;
- frames are read in the connection's own task, one ``receive`` after the other.

What those timeouts guarded against is kept by what else watches: Engine.IO's service task
closes a socket that does not answer a ping within ``ping_timeout``; uvicorn's WebSocket
keepalive closes a dead peer; and a close from either side still ends the reader and the writer.
Upgrades from long-polling keep Engine.IO's own handler.
"""

import asyncio
import logging
import time
from typing import Any

from engineio import exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

logger = logging.getLogger(__name__)


class LeanSocket(AsyncSocket):  # type: ignore[misc]  # engineio ships no type information
    """An ``AsyncSocket`` for a connection that starts on WebSocket (see the module)."""

    # Engine.IO's attributes this class reads or sets (set by AsyncSocket.__init__), and its own.
    server: Any
    sid: str
    queue: Any
    last_ping: float | None
    connected: bool
    upgraded: bool
    closing: bool
    closed: bool
    _stopped: bool

    @classmethod
    def adopt(cls, socket: AsyncSocket) -> None:
        """Make a socket Engine.IO just created a LeanSocket (same state, other methods).

        Engine.IO builds its sockets itself and offers no hook to choose the class; this runs
        from its connect event, before the first ping is scheduled and before the socket
        serves its WebSocket. Any other kind of socket is left alone.
        """
        if type(socket) is AsyncSocket and not socket.connected:
            socket.__class__ = cls

    def schedule_ping(self) -> None:
        # Engine.IO's: "only schedule a new ping if the previous ping wait cycle completed".
        if self.last_ping:
            self.last_ping = None
            loop = asyncio.get_running_loop()
            self._ping_timer = loop.call_later(self.server.ping_interval, self._ping)

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        """Engine.IO's close, then the end of the WebSocket under it: Engine.IO's own handler
        noticed a closed session through its read and write timeouts, which this one has not."""
        await super().close(wait=wait, abort=abort, reason=reason)
        timer = getattr(self, "_ping_timer", None)
        if timer is not None:
            timer.cancel()
        if getattr(self, "_ws", None) is not None and not self._stopped:
            self.queue.put_nowait(None)  # the writer sends what is queued, then closes

    def _ping(self) -> None:
        # What Engine.IO's ping task does after its sleep, minus the await: the queue is
        # unbounded, so ``send`` would not wait either.
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.queue.put_nowait(eio_packet.Packet(eio_packet.PING))

    async def _websocket_handler(self, ws: Any) -> Any:
        if self.connected:  # an upgrade from long-polling: Engine.IO's own handshake
            return await super()._websocket_handler(ws)
        self.connected = True
        self.upgraded = True
        self._ws = ws
        self._writer: asyncio.Future[None] | None = None
        self._stopped = False
        self.queue.on_put = self._wake_writer
        if self.queue.empty():
            self.queue.idle = True
        else:  # Engine.IO queued the OPEN packet before this handler ran
            self._wake_writer()
        try:
            await self._read(ws)
        finally:
            await self.queue.put(None)  # the writer sends what is queued, then closes
            if self._writer is not None:
                await self._writer
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

    async def _read(self, ws: Any) -> None:
        limit = self.server.max_http_buffer_size
        while True:
            try:
                data = await ws.wait()
            except Exception:  # the connection closed (or its ASGI receive failed)
                return
            if data is None or len(data) > limit:
                return
            try:
                await self.receive(eio_packet.Packet(encoded_packet=data))
            except exceptions.UnknownPacketError:
                pass
            except exceptions.SocketIsClosedError:
                return
            except Exception:  # Engine.IO's handler logs it and keeps the connection
                logger.exception("unexpected error handling a received packet")

    def _wake_writer(self) -> None:
        # Something was queued: a writer runs until the queue is empty, then ends (an idle
        # connection holds no writer task; most frames go out directly anyway).
        if self._writer is None and not self._stopped:
            self._writer = asyncio.ensure_future(self._write(self._ws))

    async def _write(self, ws: Any) -> None:
        queue = self.queue  # every get is matched by task_done: close(wait=True) joins it
        try:
            while not queue.empty():
                pkt = queue.get_nowait()
                queue.task_done()
                if pkt is None:
                    self._stopped = True
                    break
                await ws.send(pkt.encode())  # waits only while the transport is paused
        except Exception:  # the transport failed: nothing more can be sent
            logger.debug("writer of %s stopped", self.sid, exc_info=True)
            self._stopped = True
        if self._stopped:
            await ws.close()
            return
        # Empty, and everything taken was sent: direct writes may go again. No await since
        # the check above, so nothing was queued in between without this writer seeing it.
        queue.idle = True
        self._writer = None
