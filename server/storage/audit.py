"""AuditRepository: the append-only audit table, one chain however many processes append."""

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.storage.errors import StorageError
from server.storage.models import AuditEntry, as_utc, metadata

AUDIT_LOG: Table = metadata.tables[AuditEntry.__tablename__]
GENESIS_HASH = "0" * 64  # the prev_hash of the first row
# One fixed key for pg_advisory_xact_lock: the bytes of "audit_lo" as a signed 64-bit int.
_PG_LOCK_KEY = 0x61756469745F6C6F


class AuditEntryRefusedError(StorageError):
    """An audit entry does not fit its columns (a bug in the caller); nothing was stored."""

    code = "internal_error"
    message = "The event could not be recorded in the audit log."


@dataclass(frozen=True, slots=True)
class NewAuditEntry:
    """A row to append; ``details`` is already canonical JSON text, ``created_at`` is aware."""

    created_at: datetime
    actor_provider: str | None
    actor_subject: str | None
    actor_name: str | None
    action: str
    target: str
    details: str

    def stored(self, row_id: int, prev_hash: str, row_hash: str) -> "AuditRecord":
        """This entry as the row ``row_id`` after ``prev_hash`` (``created_at`` in UTC)."""
        return AuditRecord(
            id=row_id,
            created_at=self.created_at.astimezone(UTC),
            actor_provider=self.actor_provider,
            actor_subject=self.actor_subject,
            actor_name=self.actor_name,
            action=self.action,
            target=self.target,
            details=self.details,
            prev_hash=prev_hash,
            hash=row_hash,
        )


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A stored row of the audit log, ``created_at`` in UTC."""

    id: int
    created_at: datetime
    actor_provider: str | None
    actor_subject: str | None
    actor_name: str | None
    action: str
    target: str
    details: str
    prev_hash: str
    hash: str


# Given the new row's id and prev_hash, its hash (computed by the caller: server.audit).
Seal = Callable[[int, str], str]


class AuditRepository:
    """Appends to and reads the ``audit_log`` table; rows are never updated once committed."""

    def __init__(self, engine: AsyncEngine, batch_size: int = 500) -> None:
        self._engine = engine
        self._batch_size = batch_size

    async def append(self, entry: NewAuditEntry, seal: Seal) -> AuditRecord:
        """Store ``entry`` after the newest row; returns it as committed.

        The newest row is read under a lock held until commit, so concurrent appends (any
        process) queue up and each links to the one before: the chain never forks. An entry
        that cannot fit is refused before an id is taken (a PostgreSQL sequence never gives an
        id back, and verify reads an id gap as a removed row).

        Raises:
            AuditEntryRefusedError: (internal_error) a value is longer than its column.
        """
        _check_lengths(entry)
        created_at = entry.created_at.astimezone(UTC)  # SQLite would drop any other offset
        async with self._engine.begin() as conn:
            await _lock(conn)
            head = await _head(conn)
            prev_hash = head[1] if head is not None else GENESIS_HASH
            new_id = await _insert(conn, entry, created_at, prev_hash)
            row_hash = seal(new_id, prev_hash)
            await conn.execute(
                update(AUDIT_LOG).where(AUDIT_LOG.c.id == new_id).values(hash=row_hash)
            )
        return entry.stored(new_id, prev_hash, row_hash)

    async def head(self) -> tuple[int, str] | None:
        """The newest row's ``(id, hash)``, or None while the log is empty."""
        async with self._engine.connect() as conn:
            return await _head(conn)

    async def page(
        self,
        after: int = 0,
        limit: int = 100,
        *,
        action: str | None = None,
        actor_subject: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditRecord]:
        """Up to ``limit`` rows with an id above ``after`` in id order, filtered.

        ``since`` is inclusive and ``until`` exclusive (both on ``created_at``).
        """
        where: list[ColumnElement[bool]] = [AUDIT_LOG.c.id > after]
        if action is not None:
            where.append(AUDIT_LOG.c.action == action)
        if actor_subject is not None:
            where.append(AUDIT_LOG.c.actor_subject == actor_subject)
        if since is not None:
            where.append(AUDIT_LOG.c.created_at >= since.astimezone(UTC))
        if until is not None:
            where.append(AUDIT_LOG.c.created_at < until.astimezone(UTC))
        query = select(AUDIT_LOG).where(and_(*where)).order_by(AUDIT_LOG.c.id).limit(limit)
        async with self._engine.connect() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def rows(self) -> AsyncIterator[AuditRecord]:
        """Every row in id order, read in batches (never the whole table in memory)."""
        after = 0
        while True:
            batch = await self.page(after, self._batch_size)
            for row in batch:
                yield row
            if len(batch) < self._batch_size:
                return
            after = batch[-1].id


def _check_lengths(entry: NewAuditEntry) -> None:
    for name in ("actor_provider", "actor_subject", "actor_name", "action", "target"):
        value = getattr(entry, name)
        limit = getattr(AUDIT_LOG.c[name].type, "length", None)
        if value is not None and limit is not None and len(value) > limit:
            raise AuditEntryRefusedError(f"{name} is longer than {limit} characters")


async def _lock(conn: AsyncConnection) -> None:
    """Serialise appenders for the rest of this transaction, before the head is read."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
        return
    # SQLite: a write that changes nothing takes the database's write lock now (waiting out the
    # busy timeout for other writers). Reading first and writing later would fail with
    # SQLITE_BUSY_SNAPSHOT whenever another process appended in between.
    await conn.execute(update(AUDIT_LOG).where(AUDIT_LOG.c.id < 0).values(hash=AUDIT_LOG.c.hash))


async def _head(conn: AsyncConnection) -> tuple[int, str] | None:
    result = await conn.execute(
        select(AUDIT_LOG.c.id, AUDIT_LOG.c.hash).order_by(AUDIT_LOG.c.id.desc()).limit(1)
    )
    row = result.first()
    return None if row is None else (int(row.id), str(row.hash))


async def _insert(
    conn: AsyncConnection, entry: NewAuditEntry, created_at: datetime, prev_hash: str
) -> int:
    # The hash covers the id, known only after the insert: a random placeholder fills the
    # unique column until the update in the same transaction (no reader ever sees it).
    result = await conn.execute(
        insert(AUDIT_LOG)
        .values(
            created_at=created_at,
            actor_provider=entry.actor_provider,
            actor_subject=entry.actor_subject,
            actor_name=entry.actor_name,
            action=entry.action,
            target=entry.target,
            details=entry.details,
            prev_hash=prev_hash,
            hash=secrets.token_hex(32),
        )
        .returning(AUDIT_LOG.c.id)
    )
    return int(result.scalar_one())


def _record(row: Any) -> AuditRecord:
    return AuditRecord(
        id=int(row.id),
        created_at=as_utc(row.created_at),
        actor_provider=row.actor_provider,
        actor_subject=row.actor_subject,
        actor_name=row.actor_name,
        action=row.action,
        target=row.target,
        details=row.details,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )
