"""PresenceRepository: each node's live sockets per user, so any node can count them all."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage.models import Node, Presence, as_utc, metadata

NODES: Table = metadata.tables[Node.__tablename__]
PRESENCE: Table = metadata.tables[Presence.__tablename__]
UserKey = tuple[str, str]


# Run once per batch with a list of keys (the node is fixed per call).
_DELETE = delete(PRESENCE).where(
    PRESENCE.c.issuer == bindparam("b_issuer"), PRESENCE.c.subject == bindparam("b_subject")
)


@dataclass(frozen=True, slots=True)
class StoredNode:
    """A server process as it last wrote its presence: its live sockets and their users."""

    id: str
    started_at: datetime
    heartbeat_at: datetime
    sockets: int
    users: int


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
            keys = [{"b_issuer": i, "b_subject": s} for (i, s) in changed]
            if keys:
                await conn.execute(_DELETE.where(PRESENCE.c.node_id == node_id), keys)
            rows = [
                {"node_id": node_id, "issuer": i, "subject": s, "provider_id": p, "sessions": n}
                for (i, s), (p, n) in changed.items()
                if n > 0
            ]
            if rows:
                await conn.execute(insert(PRESENCE), rows)

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

    async def nodes(self) -> list[StoredNode]:
        """Every node that wrote its presence and was not forgotten, oldest first."""
        sockets = func.coalesce(func.sum(PRESENCE.c.sessions), 0)
        statement = (
            select(NODES, sockets.label("sockets"), func.count(PRESENCE.c.node_id).label("users"))
            .select_from(NODES.outerjoin(PRESENCE, PRESENCE.c.node_id == NODES.c.id))
            .group_by(NODES.c.id, NODES.c.started_at, NODES.c.heartbeat_at)
            .order_by(NODES.c.started_at, NODES.c.id)
        )
        async with self._engine.connect() as conn:
            rows = await conn.execute(statement)
            return [
                StoredNode(
                    id=row.id,
                    started_at=as_utc(row.started_at),
                    heartbeat_at=as_utc(row.heartbeat_at),
                    sockets=int(row.sockets),
                    users=int(row.users),
                )
                for row in rows
            ]

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
