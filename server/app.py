"""The composition root: ``create_app(settings)`` builds every object; nothing happens at import."""

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import socketio
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.chat import ChatNamespace, ChatService, HalfOpenReaper
from server.config import Settings
from server.http import WebRoutes, content_security_policy
from server.identity import Clock, IdpUnavailableError, SystemClock, TokenVerifier
from server.sessions import SessionService
from server.storage import LogoutRepository, check_schema, create_engine

logger = logging.getLogger(__name__)

REVOCATION_SYNC_SECONDS = 5.0
GC_THRESHOLD_0 = 20_000  # how soon a logout stored by another process is enforced here


class SecurityHeaders:
    """Adds the headers every response of ours carries (pure ASGI: WebSockets pass untouched)."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self._app = app
        self._headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self._headers]}
            await send(message)

        await self._app(scope, receive, send_with_headers)


async def _warm_up(verifier: TokenVerifier) -> None:
    # An unreachable provider must not stop the server: it is retried on first use.
    for provider in verifier.providers:
        try:
            await provider.keys.get()
        except IdpUnavailableError as exc:
            logger.warning("provider %s unavailable at start-up: %s", provider.provider.id, exc)


def _calm_the_garbage_collector() -> None:
    # Full collections walk every tracked object: with the libraries loaded (SQLAlchemy, pydantic,
    # joserfc…) they took 180-260 ms here and set the p99 latency. What exists at start-up lives
    # for the whole process, so it is moved out of the collector's sight, and young collections
    # run less often (measured: bench/, latency scenario).
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD_0, 20, 20)


async def _every(seconds: float, job: Callable[[], Awaitable[object]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:  # one failed run must not stop the next
            logger.exception("periodic job failed")


def _socketio_server(settings: Settings) -> socketio.AsyncServer:
    return socketio.AsyncServer(
        async_mode="asgi",
        # Never empty: python-socketio treats [] as "no origin check at all".
        cors_allowed_origins=list(settings.server.allowed_origins),
        max_http_buffer_size=settings.server.max_payload_bytes,
        transports=["websocket"] if settings.server.websocket_only else ["polling", "websocket"],
        logger=False,  # its logs would carry event payloads and the auth data
        engineio_logger=False,
    )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
) -> ASGIApp:
    """Build the ASGI application: Socket.IO at ``/socket.io``, everything else to Starlette."""
    clock = clock or SystemClock()
    http = httpx.AsyncClient(transport=http_transport, headers={"User-Agent": "sso-chat"})
    engine = create_engine(settings.database.url)
    verifier = TokenVerifier.build(settings.providers, http, clock)
    chat = ChatService(engine, settings.rooms, settings.server.max_message_chars)
    sessions = SessionService(settings.sessions, LogoutRepository(engine), clock)

    sio = _socketio_server(settings)
    namespace = ChatNamespace(verifier, chat, sessions)
    sio.register_namespace(namespace)
    reaper = HalfOpenReaper(sio, settings.server.connect_timeout_seconds)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await check_schema(engine)
        await chat.start()
        await sessions.start()
        await _warm_up(verifier)
        _calm_the_garbage_collector()
        logger.info("ready: %d providers, %d rooms", len(settings.providers), len(settings.rooms))
        tasks = [
            asyncio.create_task(_every(reaper.interval, reaper.sweep)),
            asyncio.create_task(_every(settings.sessions.sweep_interval_seconds, namespace.sweep)),
            asyncio.create_task(_every(REVOCATION_SYNC_SECONDS, sessions.revocations.sync)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await chat.stop()
            await http.aclose()
            await engine.dispose()

    routes = WebRoutes(settings, verifier, engine, namespace.backchannel_logout).routes()
    web = Starlette(routes=routes, lifespan=lifespan)
    app: ASGIApp = socketio.ASGIApp(sio, other_asgi_app=web, socketio_path="socket.io")
    return SecurityHeaders(app, content_security_policy(settings))
