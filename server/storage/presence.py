"""PresenceRepository: each node's live sockets per user, so any node can count them all."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage.models import Node, Presence, metadata

NODES: Table = metadata.tables[Node.__tablename__]
PRESENCE: Table = metadata.tables[Presence.__tablename__]
UserKey = tuple[str, str]


class PresenceRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def publish(
        self,
        node_id: str,
        now: datetime,
        changed: Mapping[UserKey, tuple[str, int]],
    ) -> None:
        """One node's heartbeat and the users whose count changed, ``key -> (provider id,
        sockets)`` (0 sockets: the row goes), in one transaction."""
        async with self._engine.begin() as conn:
            beat = await conn.execute(
                update(NODES).where(NODES.c.id == node_id).values(heartbeat_at=now)
            )
            if beat.rowcount == 0:
                await conn.execute(
                    insert(NODES).values(id=node_id, started_at=now, heartbeat_at=now)
                )
            for (issuer, subject), (provider_id, sessions) in changed.items():
                where = and_(
                    PRESENCE.c.node_id == node_id,
                    PRESENCE.c.issuer == issuer,
                    PRESENCE.c.subject == subject,
                )
                await conn.execute(delete(PRESENCE).where(where))
                if sessions > 0:
                    await conn.execute(
                        insert(PRESENCE).values(
                            node_id=node_id,
                            issuer=issuer,
                            subject=subject,
                            provider_id=provider_id,
                            sessions=sessions,
                        )
                    )

    async def count(self, key: UserKey, alive_since: datetime) -> tuple[int, int]:
        """The user's live sockets and on how many nodes, counting nodes that beat since then."""
        return await self._sum(
            alive_since, PRESENCE.c.issuer == key[0], PRESENCE.c.subject == key[1]
        )

    async def count_provider(self, provider_id: str, alive_since: datetime) -> int:
        """The live sockets of a provider's users on every node that beat since then."""
        return (await self._sum(alive_since, PRESENCE.c.provider_id == provider_id))[0]

    async def _sum(self, alive_since: datetime, *where: Any) -> tuple[int, int]:
        statement = (
            select(func.coalesce(func.sum(PRESENCE.c.sessions), 0), func.count())
            .select_from(PRESENCE.join(NODES, NODES.c.id == PRESENCE.c.node_id))
            .where(NODES.c.heartbeat_at >= alive_since, *where)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(statement)).one()
            return int(row[0]), int(row[1])

    async def forget(self, node_id: str | None = None, beat_before: datetime | None = None) -> int:
        """Remove a node (at its shutdown), or every node that has not beaten since then."""
        async with self._engine.begin() as conn:
            if node_id is not None:
                gone = [node_id]
            else:
                rows = await conn.execute(
                    select(NODES.c.id).where(NODES.c.heartbeat_at < beat_before)
                )
                gone = list(rows.scalars())
            if gone:
                await conn.execute(delete(PRESENCE).where(PRESENCE.c.node_id.in_(gone)))
                await conn.execute(delete(NODES).where(NODES.c.id.in_(gone)))
            return len(gone)
