"""Presence: this node's live sockets per user, published so every node can count them all.

Every ``interval`` the node writes its heartbeat and the users whose count changed since the
last write; a reader sums the rows of nodes that beat recently, so a count is at most one
interval old, and a dead node's sockets stop counting after ``3 * interval``.
"""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from server.identity import Clock
from server.sessions.registry import SessionRegistry
from server.storage import PresenceRepository, StoredNode

UserKey = tuple[str, str]
DEAD_AFTER_INTERVALS = 3
FORGET_AFTER = timedelta(minutes=10)


class Presence:
    def __init__(
        self,
        repository: PresenceRepository,
        registry: SessionRegistry,
        node_id: str,
        clock: Clock,
        interval: float,
    ) -> None:
        self._repository = repository
        self._registry = registry
        self.node_id = node_id
        self._clock = clock
        self.interval = interval
        self._published: Counter[UserKey] = Counter()
        self._providers: dict[UserKey, str] = {}  # of the published users
        self._publishing = asyncio.Lock()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    async def publish(self) -> None:
        """Write this node's heartbeat and changed counts (a failed write is retried in full);
        one at a time, so each diff is taken against what was really written."""
        async with self._publishing:
            await self._publish()

    async def _publish(self) -> None:
        sessions = self._registry.sessions()
        counts = Counter(s.identity.key for s in sessions)
        providers = {s.identity.key: s.identity.provider_id for s in sessions}
        providers.update({k: v for k, v in self._providers.items() if k not in providers})
        keys = counts.keys() | self._published.keys()
        changed = {
            key: (providers[key], counts[key])
            for key in keys
            if counts[key] != self._published[key]
        }
        await self._repository.publish(self.node_id, self._now(), changed)
        self._published = counts
        self._providers = {k: providers[k] for k in counts}
        await self._repository.forget(beat_before=self._now() - FORGET_AFTER)

    async def count(self, key: UserKey) -> tuple[int, int]:
        """The user's live sockets on every live node, and how many nodes hold them."""
        alive = self._now() - timedelta(seconds=self.interval * DEAD_AFTER_INTERVALS)
        return await self._repository.count(key, alive)

    async def count_provider(self, provider_id: str) -> int:
        """The live sockets of a provider's users on every live node."""
        alive = self._now() - timedelta(seconds=self.interval * DEAD_AFTER_INTERVALS)
        return await self._repository.count_provider(provider_id, alive)

    async def nodes(self) -> list[tuple[StoredNode, bool]]:
        """Every known node, and whether it is alive (it beat within three intervals)."""
        alive = self._now() - timedelta(seconds=self.interval * DEAD_AFTER_INTERVALS)
        return [(node, node.heartbeat_at >= alive) for node in await self._repository.nodes()]

    async def leave(self) -> None:
        """At shutdown: this node's sockets stop counting at once."""
        await self._repository.forget(node_id=self.node_id)
