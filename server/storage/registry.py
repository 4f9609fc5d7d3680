"""RegistryRepository: the providers table and the revision counters every process polls."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.storage.changes import mark
from server.storage.models import ProviderRecord, Revision, as_utc, metadata, utcnow

PROVIDERS: Table = metadata.tables[ProviderRecord.__tablename__]
REVISIONS: Table = metadata.tables[Revision.__tablename__]


@dataclass(frozen=True, slots=True)
class StoredProvider:
    id: str
    config: dict[str, Any]
    source: str
    version: int
    updated_at: datetime


async def bump(conn: AsyncConnection, name: str) -> None:
    """Count one more change of ``name`` in the caller's transaction (the row may be missing)."""
    result = await conn.execute(
        update(REVISIONS).where(REVISIONS.c.name == name).values(value=REVISIONS.c.value + 1)
    )
    if result.rowcount == 0:
        await conn.execute(insert(REVISIONS).values(name=name, value=1))
    mark(conn, name)


async def read_revision(engine: AsyncEngine, name: str) -> int:
    """How many changes of ``name`` were ever counted (any process)."""
    async with engine.connect() as conn:
        value = await conn.scalar(select(REVISIONS.c.value).where(REVISIONS.c.name == name))
        return int(value or 0)


class RegistryRepository:
    """Providers stored as JSON documents, each change counted in ``revisions``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def revisions(self) -> dict[str, int]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(REVISIONS.c.name, REVISIONS.c.value))
            return {row.name: int(row.value) for row in rows}

    async def providers(self) -> list[StoredProvider]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(PROVIDERS).order_by(PROVIDERS.c.id))
            return [_stored(row) for row in rows]

    async def provider(self, provider_id: str) -> StoredProvider | None:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(PROVIDERS).where(PROVIDERS.c.id == provider_id))
            row = rows.first()
            return None if row is None else _stored(row)

    async def insert(self, provider_id: str, config: dict[str, Any], source: str) -> bool:
        """Add a provider; ``False`` if its id is taken."""
        now = utcnow()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(PROVIDERS).values(
                        id=provider_id,
                        config=json.dumps(config, sort_keys=True),
                        source=source,
                        version=1,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await bump(conn, "providers")
        except IntegrityError:
            return False
        return True

    async def update(self, provider_id: str, config: dict[str, Any], version: int) -> bool:
        """Replace the configuration if the stored version is still ``version``; ``False`` if
        the provider is gone or was changed meanwhile (the caller re-reads and retries)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(PROVIDERS)
                .where(PROVIDERS.c.id == provider_id, PROVIDERS.c.version == version)
                .values(
                    config=json.dumps(config, sort_keys=True),
                    version=version + 1,
                    updated_at=utcnow(),
                )
            )
            if result.rowcount != 1:
                return False
            await bump(conn, "providers")
        return True

    async def delete(self, provider_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(PROVIDERS).where(PROVIDERS.c.id == provider_id))
            if result.rowcount != 1:
                return False
            await bump(conn, "providers")
        return True


def _stored(row: Any) -> StoredProvider:
    return StoredProvider(
        id=row.id,
        config=_document(row.config),
        source=row.source,
        version=int(row.version),
        updated_at=as_utc(row.updated_at),
    )


def _document(text: str) -> dict[str, Any]:
    """The stored JSON object; anything else (a row edited outside the API) reads as ``{}``,
    which no provider validates as: the registry then refuses to use it, and says so."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
