"""PollingBinding: a long-polling session belongs to the browser that opened it.

Engine.IO's long-polling transport names its session only by the ``sid`` in the URL, and URLs end
up in proxy and access logs: whoever learns a sid could POST events as its owner. At the polling
handshake the server sets a secret cookie (HttpOnly, SameSite=Strict, Secure on https) and binds
the new sid to that secret and to the handshake's Origin. Every later request for that sid (polls,
posts, the upgrade to WebSocket) must carry both, or it is refused with 403 and never reaches
Engine.IO. JSONP polling is refused outright.
"""

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.gateway.frames import packet_problem

logger = logging.getLogger(__name__)

COOKIE = "sso_chat_poll"
MAX_BINDINGS = 100_000
_REFUSALS = {
    400: ("invalid_request", "The request is malformed."),
    403: ("forbidden", "This connection belongs to another client."),
    413: ("invalid_request", "The request is too large."),
    503: ("internal_error", "The server is busy; try again later."),
}


@dataclass(frozen=True, slots=True)
class _Binding:
    secret_digest: bytes
    origin: str | None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cookie_secret(scope: Scope) -> str | None:
    raw = _header(scope, b"cookie")
    if raw is None:
        return None
    try:
        morsel = SimpleCookie(raw).get(COOKIE)
    except CookieError:
        return None
    return morsel.value if morsel is not None and len(morsel.value) == 43 else None


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class PollingBinding:
    """ASGI middleware in front of Engine.IO (``/socket.io/``); ``wrap`` it around the app."""

    def __init__(
        self,
        live: Callable[[], Collection[str]],
        close: Callable[[str], None],
        max_bytes: int,
        path: str = "/socket.io",
    ) -> None:
        self._live = live  # the sids Engine.IO still holds
        self._close = close  # closes one Engine.IO session, without waiting
        self._max_bytes = max_bytes
        self._path = path.rstrip("/") + "/"
        self._bindings: dict[str, _Binding] = {}
        self._app: ASGIApp | None = None

    def wrap(self, app: ASGIApp) -> "PollingBinding":
        self._app = app
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app
        assert app is not None, "PollingBinding.wrap(app) first"
        if scope["type"] not in {"http", "websocket"} or not scope["path"].startswith(self._path):
            await app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "j" in query:
            await _refuse(scope, receive, send, "JSONP polling")
            return
        sid = query.get("sid", [None])[0]
        if sid is not None:
            # An unknown sid goes on to Engine.IO, which answers it as any dead session.
            if sid in self._live() and not self._owns(scope, sid):
                await _refuse(
                    scope, receive, send, "a polling session's request without its binding"
                )
                return
            if scope["type"] == "http" and scope["method"] == "POST":
                await self._checked_post(app, scope, receive, send, sid)
                return
            await app(scope, receive, send)
        elif scope["type"] == "http" and query.get("transport") == ["polling"]:
            await self._handshake(app, scope, receive, send)
        else:
            await app(scope, receive, send)

    async def _checked_post(
        self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, sid: str
    ) -> None:
        # Engine.IO decodes a post's packets itself, and a packet it cannot name is a logged
        # traceback there: each packet is checked here first, as a WebSocket frame would be. A
        # session that sent one is closed, as it would be on a WebSocket (and as Engine.IO does on
        # its own post errors), so it stops counting against the user's connections.
        body = await _read_body(receive, self._max_bytes)
        problem = "too large" if body is None else _post_problem(body)
        if problem is not None:
            status = 413 if body is None else 400
            await _refuse(scope, receive, send, f"polling post: {problem}", status=status)
            self._close(sid)
            return
        assert body is not None
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope, replay, send)

    async def prune(self) -> int:
        """Forget the bindings of sessions that are gone; returns how many."""
        alive = set(self._live())
        gone = [sid for sid in self._bindings if sid not in alive]
        for sid in gone:
            del self._bindings[sid]
        return len(gone)

    def _owns(self, scope: Scope, sid: str) -> bool:
        binding = self._bindings.get(sid)
        secret = _cookie_secret(scope)
        if binding is None or secret is None:
            return False
        if not hmac.compare_digest(binding.secret_digest, _digest(secret)):
            return False
        # Browsers leave Origin off same-origin GETs: a request without one is judged by the
        # cookie alone; one with an Origin must match the session's (the first one seen).
        origin = _header(scope, b"origin")
        if origin is None or origin == binding.origin:
            return True
        if binding.origin is None:
            self._bindings[sid] = _Binding(binding.secret_digest, origin)
            return True
        return False

    async def _handshake(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        if len(self._bindings) >= MAX_BINDINGS:
            await _refuse(scope, receive, send, "too many polling sessions", status=503)
            return
        secret = _cookie_secret(scope) or secrets.token_urlsafe(32)
        binding = _Binding(_digest(secret), _header(scope, b"origin"))
        start: list[Message] = []

        async def bind_then_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.append(message)  # held until the body names the new sid
                return
            if start:
                sid = _handshake_sid(message.get("body", b""))
                if sid is not None:
                    self._bindings[sid] = binding
                    start[0] = _with_cookie(start[0], secret, scope.get("scheme") == "https")
                await send(start.pop())
            await send(message)

        await app(scope, receive, bind_then_send)


def _post_problem(body: bytes) -> str | None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    return next(filter(None, map(_polling_problem, text.split("\x1e"))), None)


def _polling_problem(packet: str) -> str | None:
    # Pings and upgrades belong to the WebSocket; over polling Engine.IO would leave them hanging.
    if packet[:1] in {"2", "5"}:
        return "a WebSocket-only packet"
    return packet_problem(packet)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or ``None`` once it passes ``limit`` bytes."""
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return body


def _handshake_sid(body: bytes) -> str | None:
    # The Engine.IO v4 open packet: "0" followed by {"sid": ..., ...}.
    if not body.startswith(b"0{"):
        return None
    try:
        sid = json.loads(body[1:].split(b"\x1e", 1)[0]).get("sid")
    except (ValueError, AttributeError):
        return None
    return sid if isinstance(sid, str) else None


def _with_cookie(start: Message, secret: str, secure: bool) -> Message:
    cookie = f"{COOKIE}={secret}; Path=/socket.io; HttpOnly; SameSite=Strict"
    if secure:
        cookie += "; Secure"
    headers = [*start.get("headers", []), (b"set-cookie", cookie.encode())]
    return {**start, "headers": headers}


async def _refuse(scope: Scope, receive: Receive, send: Send, why: str, status: int = 403) -> None:
    client = scope.get("client") or ("?", 0)
    logger.info("refused %s from %s: %s", scope["type"], client[0], why)
    if scope["type"] == "websocket":
        await receive()  # websocket.connect; a close before accepting is answered with 403
        await send({"type": "websocket.close", "code": 1008})
        return
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    code, message = _REFUSALS[status]
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({"type": "http.response.body", "body": body})
