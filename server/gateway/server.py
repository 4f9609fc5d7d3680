"""GuardedServer: python-socketio's server with our wire rules and closes that never block."""

import asyncio
import logging
import time
from typing import Any

import engineio
import socketio
from engineio import packet as eio_packet

from server.gateway.fanout import FanoutManager
from server.gateway.outlet import OUTLET_KEY, Outlet, text_frame
from server.gateway.packets import FrameError, JsonPacket
from server.gateway.queues import OutboxQueue
from server.gateway.sockets import LeanSocket

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT_SECONDS = 5.0


class _ClientMistakesAreWarnings(logging.Filter):
    # Engine.IO logs a client's bad request (unknown sid, bad transport, foreign origin) at ERROR
    # once per kind; it is the client's mistake, not the server's. Tracebacks stay errors.
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and record.exc_info is None:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def engineio_logger() -> logging.Logger:
    """Engine.IO's logger: warnings and up (its INFO lines carry packet payloads)."""
    engineio = logging.getLogger("server.gateway.engineio")
    engineio.setLevel(logging.WARNING)
    if not any(isinstance(f, _ClientMistakesAreWarnings) for f in engineio.filters):
        engineio.addFilter(_ClientMistakesAreWarnings())
    return engineio


class _EngineServer(engineio.AsyncServer):  # type: ignore[misc]  # no type information
    def create_queue(self, *args: Any, **kwargs: Any) -> OutboxQueue:
        return OutboxQueue(*args, **kwargs)


class GuardedServer(socketio.AsyncServer):  # type: ignore[misc]  # socketio ships no type information
    """An ``AsyncServer`` that closes any transport breaking the protocol, with one log line.

    ``_handle_eio_message`` is python-socketio's entry point for every Engine.IO message; a
    :class:`FrameError` there (binary data, attachments, undecodable JSON), or python-socketio's
    own error on a packet that decodes but makes no sense, would otherwise surface as a logged
    traceback while the transport stays open. Events run in their own tasks (``async_handlers``),
    so our handlers' errors never reach this catch: ``ChatNamespace`` answers them in acks.
    """

    def __init__(self, *, max_queued_packets: int = 1000, **kwargs: Any) -> None:
        if kwargs.get("client_manager") is None:
            kwargs["client_manager"] = FanoutManager()
        super().__init__(
            serializer=JsonPacket, logger=False, engineio_logger=engineio_logger(), **kwargs
        )
        self._max_queued = max_queued_packets
        self._closing: set[asyncio.Task[None]] = set()
        self._cut_off: set[str] = set()
        self._outlets: dict[str, Outlet] = {}
        self.deliveries = {"direct": 0, "queued": 0}  # recipients of broadcasts, by path

    # --- deliveries without Engine.IO's queue (``FanoutManager``) ------------------------

    def write_direct(self, eio_sid: str, frame: bytes) -> bool:
        """Write a broadcast's frame to one connection now, if that cannot reorder or lose
        anything: it has an outlet, and its Engine.IO socket is open with no packet waiting
        anywhere (``OutboxQueue.idle``)."""
        outlet = self._outlets.get(eio_sid)
        if outlet is None:
            return False
        socket = self.eio.sockets.get(eio_sid)
        if socket is None or socket.closing or socket.closed or not socket.queue.idle:
            return False
        return outlet.write(frame)

    def enqueue(self, eio_sid: str, eio_pkt: Any) -> bool:
        """Put a packet on an open socket's queue now (what Engine.IO's ``send`` does, minus the
        await): a broadcast that follows cannot overtake it. ``False``: the socket is gone,
        closing, cut off, or past its ping timeout; Engine.IO's own ``send`` deals with it."""
        socket = self.eio.sockets.get(eio_sid)
        if socket is None or socket.closing or socket.closed or self._backlogged(eio_sid):
            return False
        last_ping = socket.last_ping
        if last_ping and time.time() - last_ping > self.eio.ping_timeout:
            return False
        socket.queue.put_nowait(eio_pkt)
        return True

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return _EngineServer

    def count_deliveries(self, direct: int, queued: int) -> None:
        self.deliveries["direct"] += direct
        self.deliveries["queued"] += queued

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        scope = environ.get("asgi.scope")
        socket = self.eio.sockets.get(eio_sid)
        if isinstance(scope, dict) and scope.get("type") == "websocket" and socket is not None:
            LeanSocket.adopt(socket)  # a connection that starts on WebSocket
        outlet = scope.get(OUTLET_KEY) if isinstance(scope, dict) else None
        if isinstance(outlet, Outlet):
            self._outlets[eio_sid] = outlet
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        self._outlets.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, reason)

    async def settle(self, within: float) -> bool:
        """Wait until every Engine.IO connection has closed (at most ``within`` seconds): at
        shutdown, after every socket was told, so what was queued to them is delivered."""
        deadline = asyncio.get_running_loop().time() + within
        while self.eio.sockets:
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def start_manager(self) -> None:
        """Start the client manager now (python-socketio waits for the first connect): a
        cluster node must hear the others, and its own heartbeat, before anyone connects."""
        if not self.manager_initialized:
            self.manager_initialized: bool = True
            self.manager.initialize()

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        # One Socket.IO packet to one client (an ack, a connect's answer): straight to its
        # WebSocket when nothing is waiting there, as broadcasts are; else queued as always.
        if eio_sid in self._outlets:
            encoded = pkt.encode()
            if isinstance(encoded, str):  # always: our packets carry no binary attachments
                frame = text_frame(eio_packet.Packet(eio_packet.MESSAGE, encoded).encode())
                if self.write_direct(eio_sid, frame):
                    return
        if not self._backlogged(eio_sid):
            await super()._send_packet(eio_sid, pkt)

    async def _send_eio_packet(self, eio_sid: str, eio_pkt: Any) -> None:
        if not self._backlogged(eio_sid):  # every broadcast goes through here
            await super()._send_eio_packet(eio_sid, eio_pkt)

    def _backlogged(self, eio_sid: str) -> bool:
        # A client that stops reading makes its outgoing queue grow with every message of its
        # rooms; past the bound it is cut off instead of holding the server's memory.
        socket = self.eio.sockets.get(eio_sid)
        if socket is None or socket.queue.qsize() < self._max_queued:
            return False
        if eio_sid not in self._cut_off:
            logger.info("closing transport %s: over %d unsent packets", eio_sid, self._max_queued)
            self._cut_off.add(eio_sid)
            self.close_soon(eio_sid)
        return True

    def close_soon(self, eio_sid: str, delay: float = 0.0) -> None:
        """Close a transport in the background, after ``delay`` seconds; never blocks the caller."""
        task = asyncio.create_task(self._close_later(eio_sid, delay))
        self._closing.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._closing.discard)

    async def _close_later(self, eio_sid: str, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.close_transport(eio_sid)

    async def _handle_eio_message(self, eio_sid: str, data: object) -> None:
        try:
            await super()._handle_eio_message(eio_sid, data)
        except FrameError as exc:
            logger.info("closing transport %s: %s", eio_sid, exc)
            await self.close_transport(eio_sid)
        except (LookupError, ValueError, TypeError) as exc:
            # python-socketio's own handling of a packet that decoded but makes no sense (an ack
            # or a disconnect for a namespace never joined, …): the client's mistake, not ours.
            logger.info("closing transport %s: unusable packet (%s)", eio_sid, type(exc).__name__)
            await self.close_transport(eio_sid)

    async def close_transport(self, eio_sid: str) -> None:
        """Close one Engine.IO connection without waiting for the client (bounded).

        ``eio.disconnect`` waits until the close packet has been delivered, which never happens on
        a long-polling session whose client walked away.
        """
        socket = self.eio.sockets.get(eio_sid)
        if socket is None:
            return
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await socket.close(wait=False, reason=self.eio.reason.SERVER_DISCONNECT)
        except TimeoutError:
            logger.warning("closing transport %s timed out", eio_sid)
        finally:
            self.eio.sockets.pop(eio_sid, None)
            self._outlets.pop(eio_sid, None)
            self._cut_off.discard(eio_sid)
            if socket.upgraded:  # a WebSocket: wake its writer so the connection itself closes
                socket.queue.put_nowait(None)
