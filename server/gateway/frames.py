"""FrameGuard: the WebSocket frames Engine.IO never sees — binary, malformed, or too many.

A pure ASGI middleware in front of Engine.IO. Every frame a client sends is charged to its
connection's frame budget before anything parses it; a binary frame, a frame that is not an
Engine.IO packet, a Socket.IO binary packet, or a connection over its budget is closed with
1008 (policy violation) and one log line. Our protocol is JSON text only.
"""

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.sessions import TokenBucket

logger = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
# What a client may send: Engine.IO close, ping, pong, upgrade, and messages carrying
# Socket.IO CONNECT, DISCONNECT, EVENT or ACK (never CONNECT_ERROR or the binary types 5 and 6).
_ENGINEIO_CONTROL = frozenset("1235")
_CLIENT_SOCKETIO_TYPES = frozenset("0123")


def frame_problem(message: Message) -> str | None:
    """Why a ``websocket.receive`` message breaks our wire rules, or ``None``."""
    if message.get("bytes") is not None:
        return "binary frame"
    return packet_problem(message.get("text"))


def packet_problem(text: str | None) -> str | None:
    """Why one Engine.IO packet (a WebSocket frame, or a part of a polling post) is refused.

    Engine.IO JSON-decodes every packet's payload that does not start with a digit, before
    anything else sees it (a payload nested deeper than the recursion limit is a traceback
    there), so a payload is checked for shape first: a message carries a Socket.IO packet of a
    type a client may send, and the control packets carry nothing or ``probe``.
    """
    if not text:
        return "empty packet"
    kind, payload = text[0], text[1:]
    if kind == "4":
        return None if payload[:1] in _CLIENT_SOCKETIO_TYPES else "not a client Socket.IO packet"
    if kind in _ENGINEIO_CONTROL:
        return None if payload in {"", "probe"} else "unexpected Engine.IO payload"
    return "not a client Engine.IO packet"  # also base64 binary ("b...") on long-polling


class FrameGuard:
    """Closes a WebSocket on its first frame that breaks the rules or exceeds the budget."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        frames_per_second: float,
        frame_burst: int,
        clock: Callable[[], float] = time.monotonic,
        on_flood: Callable[[], None] = lambda: None,
    ) -> None:
        self._app = app
        self._rate = frames_per_second
        self._burst = frame_burst
        self._clock = clock
        self._on_flood = on_flood  # a connection closed for going over the frame rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self._app(scope, receive, send)
            return
        budget = TokenBucket.full(self._rate, self._burst, self._clock())
        connection = _GuardedConnection(budget, self._clock, scope, receive, send, self._on_flood)
        await self._app(scope, connection.receive, connection.send)


class _GuardedConnection:
    __slots__ = ("_budget", "_clock", "_closed", "_on_flood", "_receive", "_scope", "_send")

    def __init__(
        self,
        budget: TokenBucket,
        clock: Callable[[], float],
        scope: Scope,
        receive: Receive,
        send: Send,
        on_flood: Callable[[], None],
    ) -> None:
        self._budget = budget
        self._clock = clock
        self._scope = scope
        self._receive = receive
        self._send = send
        self._on_flood = on_flood
        self._closed = False

    async def receive(self) -> Message:
        return await self.check(await self._receive(), self._scope)

    async def check(self, message: Message, scope: Scope) -> Message:
        if self._closed:
            return {"type": "websocket.disconnect", "code": POLICY_VIOLATION}
        if message["type"] != "websocket.receive":
            return message
        flood = not self._budget.take(self._clock())
        problem = "over the frame rate" if flood else frame_problem(message)
        if problem is None:
            return message
        if flood:
            self._on_flood()
        client = scope.get("client") or ("?", 0)
        logger.info("closing WebSocket from %s:%s: %s", client[0], client[1], problem)
        self._closed = True
        await self._send({"type": "websocket.close", "code": POLICY_VIOLATION})
        return {"type": "websocket.disconnect", "code": POLICY_VIOLATION}

    async def send(self, message: Message) -> None:
        if not self._closed:  # after our close, the application's late frames have nowhere to go
            await self._send(message)
