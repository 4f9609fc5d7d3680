"""RoomRepository: the rooms table, seeded from the configuration file, changed by admins."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage.errors import StorageError
from server.storage.models import Room, metadata, utcnow
from server.storage.registry import bump, read_revision

ROOMS: Table = metadata.tables[Room.__tablename__]


@dataclass(frozen=True, slots=True)
class StoredRoom:
    id: int
    slug: str
    name: str
    allowed_groups: tuple[str, ...]
    archived: bool


class RoomInUseError(StorageError):
    """A room that holds messages cannot be deleted (archive it)."""

    code = "conflict"
    message = "This room holds messages: archive it instead."


class RoomRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def seed(
        self, rooms: Sequence[tuple[str, str, Sequence[str]] | tuple[str, str, Sequence[str], bool]]
    ) -> dict[str, int]:
        """Create the rooms ``(slug, name, allowed_groups[, archived])`` the table lacks (an
        existing room is left as the table has it); returns slug → id of every room."""
        async with self._engine.begin() as conn:
            existing = set((await conn.execute(select(ROOMS.c.slug))).scalars())
            for slug, name, groups, *archived in rooms:
                if slug not in existing:
                    values = _values(slug, name, groups)
                    if archived and archived[0]:
                        values["archived_at"] = utcnow()
                    await conn.execute(insert(ROOMS).values(**values))
            result = await conn.execute(select(ROOMS.c.slug, ROOMS.c.id))
            return {row.slug: row.id for row in result}

    async def rooms(self) -> list[StoredRoom]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(ROOMS).order_by(ROOMS.c.id))
            return [_stored(row) for row in rows]

    async def revision(self) -> int:
        return await read_revision(self._engine, "rooms")

    async def insert(self, slug: str, name: str, groups: Sequence[str]) -> bool:
        """Add a room; ``False`` if the slug is taken."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(ROOMS).values(**_values(slug, name, groups)))
                await bump(conn, "rooms")
        except IntegrityError:
            return False
        return True

    async def update(self, slug: str, name: str, groups: Sequence[str], archived: bool) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(ROOMS)
                .where(ROOMS.c.slug == slug)
                .values(
                    name=name,
                    allowed_groups=json.dumps(list(groups)),
                    archived_at=utcnow() if archived else None,
                )
            )
            if result.rowcount != 1:
                return False
            await bump(conn, "rooms")
        return True

    async def delete(self, slug: str) -> bool:
        """Remove an empty room; ``False`` if there is none.

        Raises:
            RoomInUseError (conflict): it holds messages.
        """
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(delete(ROOMS).where(ROOMS.c.slug == slug))
                if result.rowcount != 1:
                    return False
                await bump(conn, "rooms")
        except IntegrityError as exc:  # the messages' foreign key (RESTRICT)
            raise RoomInUseError(slug) from exc
        return True


def _values(slug: str, name: str, groups: Sequence[str]) -> dict[str, Any]:
    return {
        "slug": slug,
        "name": name,
        "allowed_groups": json.dumps(list(groups)),
        "created_at": utcnow(),
    }


def _stored(row: Any) -> StoredRoom:
    groups = json.loads(row.allowed_groups) if row.allowed_groups else []
    return StoredRoom(
        id=int(row.id),
        slug=row.slug,
        name=row.name,
        allowed_groups=tuple(g for g in groups if isinstance(g, str)),
        archived=row.archived_at is not None,
    )
