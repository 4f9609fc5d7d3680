"""MessageWriter: one task writes queued messages in batches, one transaction per batch.

Senders await their own message's commit, so an ack still follows the commit, but concurrent
messages share a transaction instead of each paying a commit (and SQLite's single writer lock).
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage.database import TransactionRunner
from server.storage.models import as_utc, utcnow
from server.storage.repository import MESSAGES, ChatRepository, NewMessage, StoredMessage

logger = logging.getLogger(__name__)

MAX_BATCH = 256
Posted = tuple[StoredMessage, bool]


@dataclass(slots=True)
class _Pending:
    message: NewMessage
    sender_name: str
    done: "asyncio.Future[Posted]"


class MessageWriter:
    """Batches concurrent ``post`` calls; each returns once its row is committed."""

    def __init__(
        self, engine: AsyncEngine, repository: ChatRepository, room_slug: Callable[[int], str]
    ) -> None:
        self._transactions = TransactionRunner(engine)
        self._repository = repository
        self._room_slug = room_slug
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        self._transactions.close()

    async def post(self, message: NewMessage, sender_name: str) -> Posted:
        """Store a message once per ``(sender, client_id)``: ``(stored, created)`` after commit."""
        done: asyncio.Future[Posted] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(message, sender_name, done))
        return await done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._write(batch)
            for _ in batch:
                self._queue.task_done()

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            results = await self._transactions.run(lambda conn: self._write_batch(conn, batch))
        except IntegrityError:
            # A concurrent writer elsewhere took a client_id (or a row is invalid): fall back to
            # one transaction per message so each gets its own outcome.
            await self._write_one_by_one(batch)
            return
        except Exception as exc:
            logger.exception("writing a batch of %d messages failed", len(batch))
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(exc)
            return
        for pending, result in zip(batch, results, strict=True):
            if not pending.done.done():
                pending.done.set_result(result)

    async def _write_one_by_one(self, batch: list[_Pending]) -> None:
        for pending in batch:
            try:
                result = await self._repository.post_message(pending.message)
            except Exception as exc:  # handed to the sender, who acks an error
                pending.done.set_exception(exc)
            else:
                pending.done.set_result(result)

    def _write_batch(self, conn: Connection, batch: list[_Pending]) -> list[Posted]:
        """One transaction's work, synchronous: it runs on the writer thread (SQLite)."""
        existing = self._existing(conn, batch)
        results: list[Posted | None] = [None] * len(batch)
        to_insert: list[int] = []
        first_of: dict[tuple[int, str], int] = {}
        for index, pending in enumerate(batch):
            key = _idempotency_key(pending.message)
            if key is not None and key in existing:
                results[index] = (existing[key], False)
            elif key is not None and key in first_of:
                continue  # a retry inside this batch: resolved from the first below
            else:
                if key is not None:
                    first_of[key] = index
                to_insert.append(index)
        if to_insert:
            now = utcnow()
            rows = [_row(batch[i].message, now) for i in to_insert]
            inserted = conn.execute(
                insert(MESSAGES).returning(
                    MESSAGES.c.id, MESSAGES.c.created_at, sort_by_parameter_order=True
                ),
                rows,
            )
            for index, row in zip(to_insert, inserted, strict=True):
                results[index] = (self._stored(batch[index], int(row.id), now), True)
        for index, pending in enumerate(batch):
            if results[index] is None:
                key = _idempotency_key(pending.message)
                assert key is not None
                first = results[first_of[key]]
                assert first is not None
                results[index] = (first[0], False)
        return [r for r in results if r is not None]

    def _existing(
        self, conn: Connection, batch: list[_Pending]
    ) -> dict[tuple[int, str], StoredMessage]:
        keys = {k for p in batch if (k := _idempotency_key(p.message)) is not None}
        if not keys:
            return {}
        pairs = tuple_(MESSAGES.c.sender_id, MESSAGES.c.client_id)
        names = {p.message.sender_id: p.sender_name for p in batch}
        result = conn.execute(select(MESSAGES).where(pairs.in_(sorted(keys))))
        found: dict[tuple[int, str], StoredMessage] = {}
        for row in result:
            found[(int(row.sender_id), row.client_id)] = StoredMessage(
                id=int(row.id),
                room_slug=self._room_slug(int(row.room_id)),
                text=row.text,
                created_at=as_utc(row.created_at),
                client_id=row.client_id,
                sender_id=int(row.sender_id),
                sender_issuer=row.sender_issuer,
                sender_subject=row.sender_subject,
                sender_name=names[int(row.sender_id)],
            )
        return found

    def _stored(self, pending: _Pending, message_id: int, created_at: datetime) -> StoredMessage:
        message = pending.message
        return StoredMessage(
            id=message_id,
            room_slug=self._room_slug(message.room_id),
            text=message.text,
            created_at=as_utc(created_at),
            client_id=message.client_id,
            sender_id=message.sender_id,
            sender_issuer=message.sender_issuer,
            sender_subject=message.sender_subject,
            sender_name=pending.sender_name,
        )


def _idempotency_key(message: NewMessage) -> tuple[int, str] | None:
    return None if message.client_id is None else (message.sender_id, message.client_id)


def _row(message: NewMessage, now: object) -> dict[str, object]:
    return {
        "room_id": message.room_id,
        "sender_id": message.sender_id,
        "text": message.text,
        "client_id": message.client_id,
        "created_at": now,
        "sender_issuer": message.sender_issuer,
        "sender_subject": message.sender_subject,
        "sender_session_id": message.sender_session_id,
    }
