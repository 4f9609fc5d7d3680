"""ClusterManager: python-socketio's Redis manager, made to notice what it would silently lose.

python-socketio's ``AsyncRedisManager`` delivers an emit to this node's sockets, then publishes
it once for the others (JSON, never pickle). What it does not do, and this class adds:

- **Heartbeat.** Every ``heartbeat_seconds`` (``beat``) the node publishes a heartbeat on the
  channel and listens for its own. Not hearing it for three intervals means the subscription
  is dead or deaf (python-socketio issue #1581): ``status`` says ``degraded`` and the listener
  subscribes again (``get_message`` with a timeout, so the loop notices the request).
- **Catch-up.** A subscription that broke and was made again, a silence longer than two
  intervals, or a failed publish by another node, is a gap in what this node received: ``on_gap(since)`` is called (the chat delivers again what was
  stored meanwhile) and ``replay`` delivers each message not already delivered here (the ids of
  recently delivered ``tracked_event`` payloads are remembered).
- **Bounded publishing.** A publish never waits longer than ``redis_timeout_seconds``; while
  Redis is unreachable only heartbeats try (one failure logged per outage, not one per message),
  and local delivery goes on. When publishing works again the node announces the gap
  (``sso.gap``) so the others deliver what it stored meanwhile.
- **Pokes.** ``poke(kind)`` tells the other nodes that a durable change (logouts, revisions)
  was committed, so they re-read it now instead of at their next poll; a lost poke only delays
  them to that poll.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import socketio
from redis.asyncio import Redis

from server.config import ClusterSettings
from server.gateway import FanoutManager

logger = logging.getLogger(__name__)

HEARTBEAT = "sso.heartbeat"
POKE = "sso.poke"
GAP = "sso.gap"
DEGRADED_AFTER_BEATS = 3
GAP_AFTER_BEATS = 2
RETRY_MIN_SECONDS = 0.2
RETRY_MAX_SECONDS = 2.0
REMEMBERED_DELIVERIES = 100_000

GapHandler = Callable[[float], Awaitable[None]]


class ClusterManager(socketio.AsyncRedisManager, FanoutManager):  # type: ignore[misc]  # socketio ships no type information
    def __init__(
        self,
        settings: ClusterSettings,
        publisher: "Redis",
        *,
        tracked_event: str,
    ) -> None:
        super().__init__(settings.redis_url, channel=f"{settings.key_prefix}:socketio")
        self._publisher = publisher  # commands time out; the listener's connection must not
        self._timeout = settings.redis_timeout_seconds
        self.heartbeat_seconds = settings.heartbeat_seconds
        self._tracked_event = tracked_event
        self._delivered: OrderedDict[object, None] = OrderedDict()
        self._pokes: dict[str, Callable[[], None]] = {}
        self._on_gap: GapHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        now = time.monotonic()
        # Our own heartbeat, last heard; at first, when this node was built: what others stored
        # while it started (or while Redis was down at its start) is caught up on the first one.
        self._heard_at = now
        self._heard_wall = time.time()  # the same, on the wall clock (what ``since`` compares)
        self._caught_up_from: float | None = None
        self._subscribed_at = now
        self._resubscribe = False
        self._publish_failed_since: float | None = None  # wall clock of the last good publish
        self._last_published_wall = time.time()

    # --- what the composition root wires -------------------------------------------------

    def on_poke(self, kind: str, handler: Callable[[], None]) -> None:
        self._pokes[kind] = handler

    def on_gap(self, handler: GapHandler) -> None:
        self._on_gap = handler

    def status(self) -> str:
        """``ok``: this node hears its own heartbeats and can publish; else ``degraded``."""
        silent = time.monotonic() - self._heard_at
        late = silent > DEGRADED_AFTER_BEATS * self.heartbeat_seconds
        return "degraded" if late or self._publish_failed_since is not None else "ok"

    def poke(self, kind: str) -> None:
        """Tell the other nodes that ``kind`` changed (in the background; never blocks)."""
        self._spawn(self._publish({"method": POKE, "kind": kind, "host_id": self.host_id}))

    async def beat(self) -> None:
        """Publish a heartbeat; ask the listener to subscribe again when the node went deaf."""
        now = time.monotonic()
        quiet = DEGRADED_AFTER_BEATS * self.heartbeat_seconds
        if now - self._heard_at > quiet and now - self._subscribed_at > quiet:
            if not self._resubscribe:
                logger.warning(
                    "cluster: no heartbeat heard for %.1f s: subscribing again",
                    now - self._heard_at,
                )
            self._resubscribe = True
        await self._publish({"method": HEARTBEAT, "host_id": self.host_id})

    async def replay(self, room: str, message_id: object, payload: dict[str, Any]) -> bool:
        """Deliver a stored message to this node's sockets in ``room`` unless it already was."""
        if message_id in self._delivered:
            return False
        self._remember(message_id)
        await self.emit(self._tracked_event, payload, namespace="/", room=room, ignore_queue=True)
        return True

    async def close(self) -> None:
        thread = getattr(self, "thread", None)  # the listener (``initialize`` starts it)
        if thread is not None:
            thread.cancel()
            await asyncio.gather(thread, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.redis is not None:
            await self.redis.aclose()

    # --- python-socketio's extension points ----------------------------------------------

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        if message.get("event") == self._tracked_event:
            data = message.get("data")
            first = data[0] if isinstance(data, list) and data else None
            if isinstance(first, dict) and "id" in first:
                self._remember(first["id"])
        await super()._handle_emit(message)

    async def _publish(self, data: dict[str, Any]) -> None:
        if self._publish_failed_since is not None and data.get("method") != HEARTBEAT:
            return  # Redis is unreachable: the heartbeat probes it, nothing else waits for it
        try:
            async with asyncio.timeout(self._timeout):
                await self._publisher.publish(self.channel, self.json.dumps(data))
        except Exception as exc:  # any Redis or network error, or the timeout
            if self._publish_failed_since is None:
                logger.warning(
                    "cluster: cannot publish to Redis: other nodes miss this one's events",
                    exc_info=exc,
                )
                self._publish_failed_since = self._last_published_wall
            return
        self._last_published_wall = time.time()
        if self._publish_failed_since is not None:
            since, self._publish_failed_since = self._publish_failed_since, None
            logger.info("cluster: publishing works again")
            await self._publish({"method": GAP, "since": since, "host_id": self.host_id})

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        retry = RETRY_MIN_SECONDS
        failures = 0
        again = False  # a subscription before this one broke: what it missed must be caught up
        while True:
            try:
                self._redis_connect()
                await self.pubsub.subscribe(self.channel)
                self._subscribed_at = time.monotonic()
                self._resubscribe = False
                if failures:
                    logger.info("cluster: subscribed again after %d failed attempts", failures)
                if again:  # what was published while nothing listened was missed
                    self._own_gap()
                failures, retry, again = 0, RETRY_MIN_SECONDS, True
                while not self._resubscribe:
                    message = await self.pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=self.heartbeat_seconds
                    )
                    if message is not None:
                        yield message
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection broke: subscribe again, with backoff
                failures += 1
                if failures == 1:
                    logger.warning("cluster: lost the Redis subscription; retrying", exc_info=exc)
            await self._drop_connection()
            await asyncio.sleep(retry)
            retry = min(retry * 2, RETRY_MAX_SECONDS)

    async def _drop_connection(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                if self.pubsub is not None:
                    await self.pubsub.aclose()
                if self.redis is not None:
                    await self.redis.aclose()
        except Exception:  # already broken: nothing to close cleanly
            logger.debug("cluster: closing the old subscription failed", exc_info=True)
        self.connected = False

    async def _listen(self) -> AsyncIterator[Any]:
        channel = self.channel.encode()
        async for message in self._redis_listen_with_retries():
            if message.get("channel") != channel or message.get("type") != "message":
                continue
            try:
                data = self.json.loads(message["data"])
            except ValueError:
                continue
            if isinstance(data, dict) and not self._handled_here(data):
                yield data  # python-socketio's own methods (emit, disconnect, rooms...)

    def _handled_here(self, data: dict[str, Any]) -> bool:
        method = data.get("method")
        mine = data.get("host_id") == self.host_id
        if method == HEARTBEAT:
            if mine:
                self._heard()
            return True
        if method == POKE:
            handler = self._pokes.get(str(data.get("kind")))
            if handler is not None and not mine:
                handler()
            return True
        if method == GAP:
            since = data.get("since")
            if not mine and isinstance(since, int | float):
                self._gap(float(since))
            return True
        return False

    # --- internals -------------------------------------------------------------------

    def _heard(self) -> None:
        now, wall = time.monotonic(), time.time()
        if now - self._heard_at > GAP_AFTER_BEATS * self.heartbeat_seconds:
            logger.info("cluster: %.1f s without a heartbeat: catching up", now - self._heard_at)
            self._own_gap()
        self._heard_at, self._heard_wall = now, wall

    def _own_gap(self) -> None:
        # A silence that made the node subscribe again is one gap, noticed twice: caught up once.
        if self._heard_wall != self._caught_up_from:
            self._caught_up_from = self._heard_wall
            self._gap(self._heard_wall)

    def _gap(self, since: float) -> None:
        if self._on_gap is not None:
            self._spawn(self._on_gap(since))

    def _remember(self, message_id: object) -> None:
        self._delivered[message_id] = None
        if len(self._delivered) > REMEMBERED_DELIVERIES:
            self._delivered.popitem(last=False)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
