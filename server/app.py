"""The composition root: ``create_app(settings)`` builds every object; nothing happens at import."""

import gc
import importlib.metadata
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

import httpx
import socketio
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from server.accounts import AccountService
from server.admin import (
    AdminApi,
    AdminGuard,
    AuditRoutes,
    ClusterRoutes,
    ProviderMonitor,
    ProviderRoutes,
    RoomRoutes,
    UserRoutes,
)
from server.audit import AuditLog
from server.chat import (
    MESSAGE_POSTED,
    ChatNamespace,
    ChatService,
    RoomCuration,
    RoomDirectory,
    message_view,
    socket_room,
)
from server.cluster import ClusterNode
from server.config import Settings
from server.gateway import (
    DirectFrames,
    FrameGuard,
    GuardedServer,
    HalfOpenReaper,
    PollingBinding,
)
from server.headers import SecurityHeaders
from server.health import Health, key_state
from server.http import ERROR_HANDLERS, WebRoutes, content_security_policy
from server.identity import Clock, IdpUnavailableError, SystemClock, TokenVerifier
from server.metrics import (
    ChatMetrics,
    LiveCollector,
    MetricsEndpoint,
    MetricsServer,
    ProviderFigures,
)
from server.periodic import Job, running
from server.providers import ProviderRegistry
from server.sessions import LocalLimits, Presence, SessionService
from server.storage import (
    AuditRepository,
    ChatRepository,
    LogoutRepository,
    MessageWriter,
    PresenceRepository,
    RegistryRepository,
    RoomRepository,
    UserRepository,
    check_schema,
    create_engine,
    on_commit,
)

logger = logging.getLogger(__name__)

# Allocations between young collections. Each collection also walks what the live connections
# hold; at 20,000 that was about a tenth of a connect's CPU (bench connects: 1,090 against
# 790 µs per connect at 100,000, with p99 latency and idle memory no worse).
GC_THRESHOLD_0 = 100_000
DATABASE_CHECK_SECONDS = 5.0  # the database_up metric between health checks
DRAIN_WRITES_SECONDS = 2.0
DRAIN_CLOSE_SECONDS = 2.0
KEY_REFRESH_SECONDS = 30.0  # expired keys are fetched again this soon, traffic or not
# With the collector calmed (below), the reference cycles a closed socket leaves are found only
# by a full collection, which then came rarely: a soak grew by 10 MiB a minute until one did
# (bench/soak.py: +10.2 MiB/min steady without this, +0.6 with it). One a minute bounds them.
FULL_COLLECTION_SECONDS = 60.0
SLOW_COLLECTION_SECONDS = 0.1
# A node's own clock and the one that stamped a message may differ by this much.
CATCH_UP_CLOCK_SLACK_SECONDS = 5.0


async def _warm_up(verifier: TokenVerifier) -> None:
    # An unreachable provider must not stop the server: it is retried on first use.
    for provider in verifier.providers:
        try:
            await provider.keys.get()
        except IdpUnavailableError as exc:
            logger.warning("provider %s unavailable at start-up: %s", provider.provider.id, exc)


async def _flush_sign_ins(sessions: SessionService, presence: Presence) -> None:
    # Shutting down: what a failure loses is last-seen times and, for up to three presence
    # intervals, this node's sockets still counted.
    try:
        await sessions.users.flush()
        await presence.leave()
    except Exception:
        logger.warning("could not record the last sign-ins and presence", exc_info=True)


def _calm_the_garbage_collector() -> None:
    # Full collections walk every tracked object: with the libraries loaded (SQLAlchemy, pydantic,
    # joserfc…) they took 180-260 ms here and set the p99 latency. What exists at start-up lives
    # for the whole process, so it is moved out of the collector's sight, and young collections
    # run less often (measured: bench/, latency scenario).
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD_0, 20, 20)


def _chat_service(
    engine: AsyncEngine, settings: Settings, sessions: SessionService, metrics: ChatMetrics
) -> ChatService:
    repository = ChatRepository(engine)
    rooms = RoomDirectory(settings.rooms)
    writer = MessageWriter(engine, repository, rooms.slug_of, observe=metrics.wrote)
    max_chars = settings.server.max_message_chars
    return ChatService(repository, RoomRepository(engine), writer, rooms, sessions, max_chars)


def _socketio_server(settings: Settings, cluster: ClusterNode | None) -> GuardedServer:
    return GuardedServer(
        async_mode="asgi",
        client_manager=cluster.manager if cluster is not None else None,
        # Never empty: python-socketio treats [] as "no origin check at all".
        cors_allowed_origins=list(settings.server.allowed_origins),
        max_http_buffer_size=settings.server.max_payload_bytes,
        transports=["websocket"] if settings.server.websocket_only else ["polling", "websocket"],
        max_queued_packets=settings.server.max_queued_packets,
    )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
) -> "Application":
    """Build the ASGI application: Socket.IO at ``/socket.io``, everything else to Starlette."""
    clock = clock or SystemClock()
    http = httpx.AsyncClient(transport=http_transport, headers={"User-Agent": "sso-chat"})
    engine = create_engine(settings.database.url)
    verifier = TokenVerifier.build(settings.providers, http, clock)
    audit = AuditLog(AuditRepository(engine), clock)
    users = UserRepository(engine)
    node_id = uuid.uuid4().hex
    cluster = (
        ClusterNode(settings.cluster, settings.sessions, node_id, tracked_event=MESSAGE_POSTED)
        if settings.cluster.enabled
        else None
    )
    cluster_status = cluster.status if cluster is not None else lambda: "off"
    metrics = ChatMetrics(version=_version())
    sessions = SessionService(
        settings.sessions,
        LogoutRepository(engine),
        users,
        clock,
        verifier,
        audit,
        cluster.limits if cluster is not None else LocalLimits(),
        metrics,
    )
    chat = _chat_service(engine, settings, sessions, metrics)
    health = Health(engine, verifier, cluster_status, metrics.database_up.set)
    registry = ProviderRegistry(RegistryRepository(engine), verifier, sessions, audit)
    guard = AdminGuard(sessions, settings.admin, audit, [p.id for p in settings.providers])
    presence = Presence(
        PresenceRepository(engine),
        sessions.registry,
        node_id,
        clock,
        settings.sessions.presence_seconds,
    )
    accounts = AccountService(users, sessions, presence, audit, clock)
    file_rooms = [r.slug for r in settings.rooms]
    rooms = RoomCuration(RoomRepository(engine), chat, audit, users, file_rooms)
    monitor = ProviderMonitor(sessions.stats, presence, clock)
    admin = AdminApi(
        guard,
        [
            ProviderRoutes(registry, verifier, rooms, audit, http, monitor).table(),
            RoomRoutes(rooms).table(),
            UserRoutes(accounts).table(),
            AuditRoutes(audit).table(),
            ClusterRoutes(presence, cluster_status, _online_users(cluster, sessions)).table(),
        ],
    )

    sio = _socketio_server(settings, cluster)
    metrics.registry.register(
        _live_collector(sessions, verifier, cluster_status, lambda: sio.deliveries)
    )
    namespace = ChatNamespace(chat, sessions, metrics=metrics)
    sio.register_namespace(namespace)
    sessions.attach(namespace)
    chat.attach(namespace)
    reaper = HalfOpenReaper(sio, settings.server.connect_timeout_seconds)
    bindings = PollingBinding(
        live=lambda: sio.eio.sockets,
        close=sio.close_soon,
        max_bytes=settings.server.max_payload_bytes,
    )
    revisions = RegistryRepository(engine)

    async def changes() -> None:
        # One query for the three revisions; blocks first: they are the urgent kind.
        seen = await revisions.revisions()
        await sessions.enforce_blocks(seen.get("users", 0))
        await registry.sync(seen.get("providers", 0))
        await chat.sync_rooms(seen.get("rooms", 0))

    logout_sync = Job(
        "logout-sync", settings.sessions.revocation_sync_seconds, sessions.enforce_logouts
    )
    changes_sync = Job("changes", settings.admin.sync_seconds, changes)
    jobs = [
        Job("reaper", reaper.interval, reaper.sweep),
        Job("polling-bindings", reaper.interval, bindings.prune),
        Job("session-sweep", settings.sessions.sweep_interval_seconds, sessions.sweep),
        logout_sync,
        changes_sync,
        Job("sign-ins", presence.interval, sessions.users.flush),
        Job("presence", presence.interval, presence.publish),
        Job("audit-head", settings.admin.audit_head_seconds, audit.publish_head),
        Job("database-check", DATABASE_CHECK_SECONDS, health.database),
        Job("key-refresh", KEY_REFRESH_SECONDS, lambda: _refresh_keys(verifier)),
        Job("garbage", FULL_COLLECTION_SECONDS, _collect_garbage),
    ]
    if cluster is not None:
        jobs += _cluster_jobs(cluster, engine, chat, sessions, [logout_sync, changes_sync])

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await check_schema(engine)
        await chat.start()
        await sessions.start()
        await registry.start(settings.providers)
        await _warm_up(verifier)
        sio.start_manager()
        await _start_metrics(exporter)
        _calm_the_garbage_collector()
        logger.info("ready: %d providers, %d rooms", len(verifier.providers), len(settings.rooms))
        async with running(jobs):
            try:
                yield
            finally:
                if exporter is not None:
                    await exporter.stop()
                await _flush_sign_ins(sessions, presence)
                if cluster is not None:
                    await cluster.close()
                await chat.stop()
                await http.aclose()
                await engine.dispose()

    exporter = (
        MetricsServer(metrics.registry, settings.metrics.host, settings.metrics.port)
        if settings.metrics.enabled
        else None
    )
    token = settings.metrics.token
    routes = [
        *admin.routes(),
        *WebRoutes(
            settings,
            verifier,
            health,
            sessions.backchannel_logout,
            MetricsEndpoint(metrics.registry, token).respond if token else None,
        ).routes(),
    ]
    web = Starlette(routes=routes, lifespan=lifespan, exception_handlers=ERROR_HANDLERS)
    app = socketio.ASGIApp(sio, other_asgi_app=web, socketio_path="socket.io")
    guarded = DirectFrames(  # outermost: it needs the web server's own ``send``
        SecurityHeaders(
            _wire_guards(app, bindings, settings, metrics),
            lambda: content_security_policy(v.provider for v in verifier.providers),
        ),
        enabled=settings.server.direct_writes,
    )

    async def drain() -> None:
        # Shutting down: readiness fails first (the balancer stops sending), the messages
        # already sent are committed and acked, then every socket is told why it ends.
        health.draining = True
        await chat.settle(DRAIN_WRITES_SECONDS)
        ended = await sessions.end_where(lambda _: True, "server_shutdown")
        closed = await sio.settle(DRAIN_CLOSE_SECONDS)  # the notices delivered, then closed
        logger.info(
            "shutting down: %d sessions ended (%s)", ended, "closed" if closed else "some open"
        )

    return Application(guarded, drain)


class Application:
    """The ASGI application, and ``drain``: what its web server runs before it closes the
    connections at shutdown (``server.__main__``)."""

    def __init__(self, app: ASGIApp, drain: Callable[[], Awaitable[None]]) -> None:
        self._app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def _version() -> str:
    try:
        return importlib.metadata.version("sso-chat")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


async def _collect_garbage() -> None:
    started = time.perf_counter()
    found = gc.collect()
    took = time.perf_counter() - started
    level = logging.INFO if took > SLOW_COLLECTION_SECONDS else logging.DEBUG
    logger.log(level, "full garbage collection: %d objects in %.0f ms", found, took * 1000)


async def _refresh_keys(verifier: TokenVerifier) -> None:
    for provider in verifier.providers:
        if provider.provider.enabled:
            await provider.keys.refresh_if_due()


async def _start_metrics(exporter: MetricsServer | None) -> None:
    # A metrics address that cannot be bound must not stop the chat: said loudly, once.
    if exporter is None:
        return
    try:
        await exporter.start()
    except OSError as exc:
        logger.error("metrics: cannot listen (%s): /metrics is not served", exc.strerror)


def _live_collector(
    sessions: SessionService,
    verifier: TokenVerifier,
    cluster_status: Callable[[], str],
    deliveries: Callable[[], Mapping[str, int]],
) -> LiveCollector:
    def connections() -> dict[str, int]:
        return dict(Counter(s.identity.provider_id for s in sessions.registry.sessions()))

    def providers() -> list[ProviderFigures]:
        figures = []
        for v in verifier.providers:
            status = v.keys.status()
            figures.append(
                ProviderFigures(
                    v.provider.id,
                    key_state(v) == "ok",
                    status.seconds_since_keys,
                    v.keys.fetches_ok,
                    v.keys.fetches_failed,
                )
            )
        return figures

    return LiveCollector(connections, providers, cluster_status, deliveries)


def _online_users(
    cluster: ClusterNode | None, sessions: SessionService
) -> Callable[[], Awaitable[int | None]]:
    """How many users have a live socket: on every node (Redis), or on this one process."""

    async def count() -> int | None:
        if cluster is None:
            return len({s.identity.key for s in sessions.registry.sessions()})
        online = await cluster.limits.online()
        return None if online is None else len(online)

    return count


def _cluster_jobs(
    cluster: ClusterNode,
    engine: AsyncEngine,
    chat: ChatService,
    sessions: SessionService,
    syncs: list[Job],
) -> list[Job]:
    """Wire a cluster node: committed changes poke the other nodes, whose sync jobs then run at
    once (``logouts`` wakes the logout sync, a revision the changes job); a gap in the
    subscription delivers again what was stored meanwhile."""
    manager, settings = cluster.manager, cluster.settings
    by_kind = {"logouts": syncs[0], "changes": syncs[1]}

    def committed(kinds: frozenset[str]) -> None:
        for kind in {"logouts" if k == "logouts" else "changes" for k in kinds}:
            manager.poke(kind)

    on_commit(engine, committed)
    for kind, job in by_kind.items():
        manager.on_poke(kind, job.wake)

    async def catch_up(since: float) -> None:
        # Both durable paths first: revocations may have been published during the gap.
        for job in by_kind.values():
            job.wake()
        since = max(since - CATCH_UP_CLOCK_SLACK_SECONDS, time.time() - settings.catch_up_seconds)
        missed = await chat.stored_since(since, settings.catch_up_messages)
        delivered = 0
        for message in missed:
            view = message_view(message)
            delivered += await manager.replay(socket_room(message.room_slug), message.id, view)
        if len(missed) >= settings.catch_up_messages:
            logger.warning("cluster catch-up stopped at %d messages", len(missed))
        logger.info("cluster catch-up: %d stored messages delivered again", delivered)

    manager.on_gap(catch_up)
    return [
        Job("cluster-heartbeat", manager.heartbeat_seconds, manager.beat, timeout=5.0),
        Job(
            "cluster-sockets",
            cluster.limits.refresh_interval,
            lambda: cluster.limits.refresh(sessions.registry.sessions()),
        ),
    ]


def _wire_guards(
    app: ASGIApp, bindings: PollingBinding, settings: Settings, metrics: ChatMetrics
) -> ASGIApp:
    """Frame rules on every WebSocket; long-polling sessions bound to their browser."""
    bound = bindings.wrap(app) if not settings.server.websocket_only else app
    return FrameGuard(
        bound,
        frames_per_second=settings.server.frames_per_second,
        frame_burst=settings.server.frame_burst,
        on_flood=metrics.rate_limited.labels("frame").inc,
    )
