"""MessageWriter: one task writes queued messages in batches, one transaction per batch.

Senders await their own message's commit, so an ack still follows the commit, but concurrent
messages share a transaction instead of each paying a commit (and SQLite's single writer lock).

A retried ``client_id`` is looked up only when this process stored that key recently (the last
``RECENT_KEYS``): the batch then reads those rows back instead of inserting them. Any other retry
(stored by another node, before a restart, or long ago) meets the unique constraint: the batch
is rolled back and written one message at a time, each retry getting its first row back.

No sender waits forever: every failure of a batch (or of the writer itself) is handed to that
batch's senders as a retryable ``StorageUnavailableError``, a commit that does not arrive within
``commit_timeout`` is answered the same way, and ``stop`` gives up after ``stop_timeout``.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import Connection, insert, select, tuple_
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage.database import TransactionRunner
from server.storage.errors import StorageError, StorageUnavailableError, describe, translate
from server.storage.models import as_utc, utcnow
from server.storage.repository import MESSAGES, ChatRepository, NewMessage, StoredMessage

logger = logging.getLogger(__name__)

MAX_BATCH = 256
COMMIT_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
CANCEL_GRACE_SECONDS = 1.0
RECENT_KEYS = 50_000  # (sender, client_id) pairs stored here lately: about 5 MB
WRITER_TASK_NAME = "message-writer"
Posted = tuple[StoredMessage, bool]
Key = tuple[int, str]


@dataclass(slots=True)
class _Pending:
    message: NewMessage
    sender_name: str
    done: "asyncio.Future[Posted]"


class MessageWriter:
    """Batches concurrent ``post`` calls; each returns once its row is committed."""

    def __init__(
        self,
        engine: AsyncEngine,
        repository: ChatRepository,
        room_slug: Callable[[int], str],
        *,
        commit_timeout: float = COMMIT_TIMEOUT_SECONDS,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
        observe: "BatchObserver | None" = None,
    ) -> None:
        self._transactions = TransactionRunner(engine)
        self._observe = observe or _unobserved
        self._repository = repository
        self._room_slug = room_slug
        self._commit_timeout = commit_timeout
        self._stop_timeout = stop_timeout
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()  # None: stop after this
        self._in_flight: list[_Pending] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._recent: OrderedDict[Key, None] = OrderedDict()  # touched on the loop only

    def start(self) -> None:
        self._stopping = False
        self._task = self._spawn()

    def _spawn(self) -> "asyncio.Task[None]":
        task = asyncio.create_task(self._run(), name=WRITER_TASK_NAME)
        task.add_done_callback(self._on_exit)
        return task

    async def stop(self) -> None:
        """Write what is queued within ``stop_timeout``; fail the rest (retryable) and stop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._queue.put_nowait(None)
        await asyncio.wait({task}, timeout=self._stop_timeout)
        if not task.done():
            logger.warning(
                "the message writer did not drain in %s s: cancelled", self._stop_timeout
            )
            task.cancel()
            await asyncio.wait({task}, timeout=CANCEL_GRACE_SECONDS)
        self._fail_waiting("the message writer stopped")
        self._transactions.close()

    async def settle(self, within: float) -> bool:
        """Wait until every queued message is written (at most ``within`` seconds): at shutdown,
        so the senders of the last messages get their acks. True when nothing is left."""
        deadline = asyncio.get_running_loop().time() + within
        while self._queue.qsize() or self._in_flight:
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def post(self, message: NewMessage, sender_name: str) -> Posted:
        """Store a message once per ``(sender, client_id)``: ``(stored, created)`` after commit.

        Raises:
            StorageUnavailableError (internal_error, retryable): the database or the writer
                failed, or the commit was not confirmed within ``commit_timeout``.
            StorageError (internal_error): the database refused this message.
        """
        self._ensure_running()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Posted] = loop.create_future()
        self._queue.put_nowait(_Pending(message, sender_name, done))
        timer = loop.call_later(self._commit_timeout, _expire, done, self._commit_timeout)
        try:
            return await done
        finally:
            timer.cancel()

    def _ensure_running(self) -> None:
        if self._stopping or self._task is None:
            raise StorageUnavailableError("the message writer is not running")
        if self._task.done():
            # Its loop survives every batch's failure, so this is a bug or an outside cancel.
            # _on_exit has answered its senders; a new task keeps the chat available.
            logger.error("the message writer had ended: restarted")
            self._task = self._spawn()

    def _on_exit(self, task: "asyncio.Task[None]") -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("the message writer failed", exc_info=task.exception())
        _fail(self._in_flight, lambda: StorageUnavailableError("the message writer ended"))
        self._in_flight = []
        if task is self._task:  # not replaced yet: nothing else would read the queue
            self._fail_waiting("the message writer ended")

    def _fail_waiting(self, reason: str) -> None:
        queued = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        waiting = [*self._in_flight, *(p for p in queued if p is not None)]
        _fail(waiting, lambda: StorageUnavailableError(reason))

    async def _run(self) -> None:
        while True:
            batch, last = await self._next_batch()
            if batch:
                await self._write_safely(batch)
            if last:
                return

    async def _next_batch(self) -> tuple[list[_Pending], bool]:
        """Up to MAX_BATCH queued messages whose senders still wait, and whether stop came."""
        items = [await self._queue.get()]
        while len(items) < MAX_BATCH and not self._queue.empty():
            items.append(self._queue.get_nowait())
        # A sender that gave up (cancelled, timed out) before its write began gets nothing stored.
        batch = [p for p in items if p is not None and not p.done.done()]
        return batch, any(p is None for p in items)

    async def _write_safely(self, batch: list[_Pending]) -> None:
        self._in_flight = batch  # answered by _on_exit if this task ends mid-batch
        try:
            await self._write(batch)
        except Exception as exc:  # the loop must outlive any one batch: its senders get the error
            _log_failure(f"writing a batch of {len(batch)} messages failed", exc)
            _fail(batch, partial(translate, exc))
        self._in_flight = []

    async def _write(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        keys = [k for p in batch if (k := _idempotency_key(p.message)) is not None]
        suspects = {k for k in keys if k in self._recent}
        try:
            results = await self._transactions.run(
                lambda conn: self._write_batch(conn, batch, suspects),
                one_statement=not suspects,  # then the batch is one INSERT … RETURNING
            )
        except IntegrityError:
            # A client_id stored elsewhere or earlier (or a row is invalid): fall back to one
            # transaction per message so each gets its own outcome.
            await self._write_one_by_one(batch)
            self._remember(keys)
            return
        self._remember(keys)
        self._observe(len(batch), time.perf_counter() - started, sum(c for _, c in results))
        for pending, result in zip(batch, results, strict=True):
            if not pending.done.done():  # its sender may have been cancelled meanwhile
                pending.done.set_result(result)

    async def _write_one_by_one(self, batch: list[_Pending]) -> None:
        for pending in batch:
            if pending.done.done():
                continue  # its sender gave up before this write began
            try:
                result = await self._repository.post_message(pending.message)
            except Exception as exc:  # this message's own outcome, handed to its sender
                _log_failure("storing a message failed", exc)
                _fail([pending], partial(translate, exc))
            else:
                self._observe(1, 0.0, int(result[1]))
                if not pending.done.done():  # cancelled while its transaction ran
                    pending.done.set_result(result)

    def _remember(self, keys: list[Key]) -> None:
        recent = self._recent
        for key in keys:
            recent[key] = None
            recent.move_to_end(key)
        while len(recent) > RECENT_KEYS:
            recent.popitem(last=False)

    def _write_batch(
        self, conn: Connection, batch: list[_Pending], suspects: set[Key]
    ) -> list[Posted]:
        """One transaction's work, synchronous: it runs on the writer thread (SQLite).
        ``suspects``: the batch's keys stored lately, read back instead of inserted."""
        existing = self._existing(conn, batch, suspects)
        results: dict[int, Posted] = {}
        first_of: dict[Key, int] = {}
        to_insert: list[int] = []
        for index, pending in enumerate(batch):
            key = _idempotency_key(pending.message)
            if key is not None and key in existing:
                results[index] = (existing[key], False)
            elif key is None or key not in first_of:
                if key is not None:
                    first_of[key] = index
                to_insert.append(index)
        results.update(self._insert(conn, batch, to_insert))
        for index, pending in enumerate(batch):
            if index not in results:  # a retry inside this batch: the first one's row
                key = _idempotency_key(pending.message)
                assert key is not None
                results[index] = (results[first_of[key]][0], False)
        return [results[index] for index in range(len(batch))]

    def _insert(
        self, conn: Connection, batch: list[_Pending], to_insert: list[int]
    ) -> dict[int, Posted]:
        if not to_insert:
            return {}
        now = utcnow()
        inserted = conn.execute(
            insert(MESSAGES)
            .returning(MESSAGES.c.id, sort_by_parameter_order=True)
            # One statement for a whole batch, so that it commits (or fails) as one.
            .execution_options(insertmanyvalues_page_size=MAX_BATCH),
            [_row(batch[index].message, now) for index in to_insert],
        )
        return {
            index: (self._stored(batch[index], int(row.id), now), True)
            for index, row in zip(to_insert, inserted, strict=True)
        }

    def _existing(
        self, conn: Connection, batch: list[_Pending], keys: set[Key]
    ) -> dict[Key, StoredMessage]:
        if not keys:
            return {}
        pairs = tuple_(MESSAGES.c.sender_id, MESSAGES.c.client_id)
        names = {p.message.sender_id: p.sender_name for p in batch}
        result = conn.execute(select(MESSAGES).where(pairs.in_(sorted(keys))))
        found: dict[Key, StoredMessage] = {}
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


# A committed transaction: how many messages it held, how long it took (seconds; 0 when not
# timed), how many of them were new rows.
BatchObserver = Callable[[int, float, int], None]


def _unobserved(size: int, seconds: float, created: int) -> None:
    return None


def _expire(done: "asyncio.Future[Posted]", timeout: float) -> None:
    # The row may still be committed after its sender is told this. A retry with the same
    # client_id then returns that row instead of storing it twice: the idempotency makes it safe.
    if not done.done():
        done.set_exception(StorageUnavailableError(f"no commit within {timeout} s"))


def _fail(pendings: Iterable[_Pending], error: Callable[[], StorageError]) -> None:
    """Hand each sender still waiting its own error instance (they are raised in many tasks)."""
    for pending in pendings:
        if not pending.done.done():
            pending.done.set_exception(error())


def _log_failure(what: str, exc: Exception) -> None:
    if isinstance(exc, SQLAlchemyError):
        logger.error("%s: %s", what, describe(exc))
    else:  # a bug of ours: the traceback is what helps
        logger.error("%s: %s", what, describe(exc), exc_info=exc)


def _idempotency_key(message: NewMessage) -> Key | None:
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
