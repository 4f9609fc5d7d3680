"""ClusterNode: one process's part of the cluster, as the composition root wires it."""

from redis.asyncio import Redis

from server.cluster.limits import RedisLimits
from server.cluster.manager import ClusterManager
from server.config import ClusterSettings, SessionSettings


class ClusterNode:
    """The Socket.IO manager (broadcasts, heartbeat, pokes, catch-up) and the shared limits,
    over one Redis client whose commands time out (``redis_timeout_seconds``)."""

    def __init__(
        self,
        settings: ClusterSettings,
        sessions: SessionSettings,
        node_id: str,
        *,
        tracked_event: str,
    ) -> None:
        assert settings.redis_url is not None  # the composition root builds a node only then
        timeout = settings.redis_timeout_seconds
        self.settings = settings
        self.redis = Redis.from_url(
            settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self.manager = ClusterManager(settings, self.redis, tracked_event=tracked_event)
        self.limits = RedisLimits(self.redis, settings, sessions, node_id)

    def status(self) -> str:
        """``ok`` or ``degraded`` (the subscription is silent, or Redis does not answer)."""
        if self.manager.status() != "ok" or self.limits.failing:
            return "degraded"
        return "ok"

    async def close(self) -> None:
        await self.limits.close()
        await self.manager.close()
        await self.redis.aclose()
