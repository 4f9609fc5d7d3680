"""The batching writer on SQLite and PostgreSQL: one commit per batch, each message once, and
no sender left waiting when the database, the writer or the sender itself fails mid-batch."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage import (
    ChatRepository,
    MessageWriter,
    NewMessage,
    RoomRepository,
    StorageError,
    StorageUnavailableError,
)
from server.storage.repository import MESSAGES
from server.storage.writer import WRITER_TASK_NAME
from tests.storage.test_repository import count_messages, new_message

Started = tuple[MessageWriter, dict[str, int], int]


async def started_writer(
    engine: AsyncEngine, *, commit_timeout: float = 10.0, stop_timeout: float = 10.0
) -> Started:
    repo = ChatRepository(engine)
    rooms = await RoomRepository(engine).seed([("general", "General", ()), ("other", "Other", ())])
    slugs = {room_id: slug for slug, room_id in rooms.items()}
    alice = await repo.upsert_user("https://idp.test", "alice", "Alice")
    writer = MessageWriter(
        engine,
        repo,
        lambda room_id: slugs[room_id],
        commit_timeout=commit_timeout,
        stop_timeout=stop_timeout,
    )
    writer.start()
    return writer, rooms, alice


@pytest.fixture
async def writer(engine: AsyncEngine) -> AsyncIterator[Started]:
    started = await started_writer(engine)
    yield started
    await started[0].stop()


def _same_database(conn: Any, engine: AsyncEngine) -> bool:
    # The writer may use its own synchronous engine on the same SQLite file: match by database.
    return bool(conn.engine.url.database == engine.url.database)


@contextmanager
def transactions(engine: AsyncEngine) -> Iterator[dict[str, int]]:
    """Counts ``begin`` and ``commit`` on every engine that writes to this database."""
    counts = {"begin": 0, "commit": 0}

    def counter(name: str) -> Callable[[Any], None]:
        def count(conn: Any) -> None:
            if _same_database(conn, engine):
                counts[name] += 1

        return count

    listeners = [("begin", counter("begin")), ("commit", counter("commit"))]
    for name, listener in listeners:
        event.listen(Engine, name, listener)
    try:
        yield counts
    finally:
        for name, listener in listeners:
            event.remove(Engine, name, listener)


@contextmanager
def on_first_insert(engine: AsyncEngine, action: Callable[[Any], None]) -> Iterator[None]:
    """Runs ``action(connection)`` inside the first INSERT INTO messages, before it executes.

    It runs on whichever thread runs the statement (the SQLite writer thread, or the loop).
    """
    fired: list[bool] = []

    def hook(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if (
            not fired
            and _same_database(conn, engine)
            and statement.startswith("INSERT INTO messages")
        ):
            fired.append(True)
            action(conn)

    event.listen(Engine, "before_cursor_execute", hook)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", hook)


@asynccontextmanager
async def writes_blocked(engine: AsyncEngine) -> AsyncIterator[Any]:
    """Another connection holds the lock that inserts into messages wait for; yields it."""
    async with engine.connect() as conn:
        await conn.begin()
        if engine.dialect.name == "postgresql":
            await conn.execute(text("LOCK TABLE messages IN EXCLUSIVE MODE"))  # reads still pass
        else:
            await conn.execute(text("UPDATE rooms SET name = name"))  # SQLite's one write lock
        try:
            yield conn
        finally:
            await conn.rollback()


async def _terminate_waiting_backend(conn: Any) -> None:
    """pg_terminate_backend on the connection waiting for our lock: the writer's, mid-batch."""
    waiting = text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(500):
        await conn.execute(text("SELECT pg_stat_clear_snapshot()"))  # fresh within our transaction
        if (await conn.execute(waiting)).first() is not None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no backend waited for the lock")


@asynccontextmanager
async def connection_killed_mid_batch(engine: AsyncEngine) -> AsyncIterator[None]:
    """The connection of the next batch dies between the batch's SELECT and its INSERT."""
    if (
        engine.dialect.name == "sqlite"
    ):  # nothing can kill it from outside: close it under the batch
        with on_first_insert(engine, lambda conn: conn.connection.dbapi_connection.close()):
            yield
        return
    async with writes_blocked(engine) as locker:
        killer = asyncio.create_task(_terminate_waiting_backend(locker))
        try:
            yield
        finally:
            await killer


def writer_task() -> "asyncio.Task[Any]":
    return next(t for t in asyncio.all_tasks() if t.get_name() == WRITER_TASK_NAME)


async def test_concurrent_posts_are_all_stored_in_order(
    writer: Started, engine: AsyncEngine
) -> None:
    w, rooms, alice = writer
    results = await asyncio.gather(
        *(
            w.post(new_message(rooms["general"], alice, f"m{i}", f"c{i}"), "Alice")
            for i in range(50)
        )
    )
    assert all(created for _, created in results)
    assert [m.text for m, _ in results] == [f"m{i}" for i in range(50)]
    ids = [m.id for m, _ in results]
    assert ids == sorted(ids)
    assert results[0][0].sender_name == "Alice"
    assert results[0][0].room_slug == "general"
    assert await count_messages(engine) == 50


async def test_retries_inside_and_across_batches_store_once(
    writer: Started, engine: AsyncEngine
) -> None:
    w, rooms, alice = writer
    message = new_message(rooms["general"], alice, "once", "same")
    first = await asyncio.gather(*(w.post(message, "Alice") for _ in range(10)))
    again, created = await w.post(message, "Alice")
    assert sum(c for _, c in first) == 1
    assert {m.id for m, _ in first} == {again.id}
    assert not created
    assert await count_messages(engine) == 1


async def test_a_retry_returns_the_original_room(
    writer: Started,
) -> None:
    w, rooms, alice = writer
    original, _ = await w.post(new_message(rooms["other"], alice, "here", "k"), "Alice")
    retried, created = await w.post(new_message(rooms["general"], alice, "there", "k"), "Alice")
    assert not created
    assert (retried.id, retried.room_slug, retried.text) == (original.id, "other", "here")


async def test_a_bad_row_fails_alone(writer: Started, engine: AsyncEngine) -> None:
    w, rooms, alice = writer
    good = [w.post(new_message(rooms["general"], alice, f"ok{i}"), "Alice") for i in range(3)]
    bad = w.post(new_message(9999, alice, "orphan"), "Alice")  # no such room: a foreign key error
    results = await asyncio.gather(*good, bad, return_exceptions=True)
    assert [isinstance(r, BaseException) for r in results] == [False, False, False, True]
    async with engine.connect() as conn:
        texts = (await conn.execute(select(MESSAGES.c.text).order_by(MESSAGES.c.id))).scalars()
        assert list(texts) == ["ok0", "ok1", "ok2"]
        assert (await conn.execute(select(func.count()).select_from(MESSAGES))).scalar_one() == 3


def test_new_message_carries_no_client_identity() -> None:
    assert "name" not in NewMessage.__dataclass_fields__


@contextmanager
def statements_on_messages(engine: AsyncEngine, verb: str) -> Iterator[list[str]]:
    """The statements starting with ``verb`` ("SELECT", "INSERT INTO") that touch the messages
    table, on any engine of this database."""
    seen: list[str] = []

    def hook(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if (
            _same_database(conn, engine)
            and statement.startswith(verb)
            and ("FROM messages" in statement or statement.startswith("INSERT INTO messages"))
        ):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", hook)


async def test_concurrent_posts_share_one_statement_and_one_commit(
    writer: Started, engine: AsyncEngine
) -> None:
    w, rooms, alice = writer
    with transactions(engine) as counts, statements_on_messages(engine, "INSERT INTO") as inserts:
        await asyncio.gather(
            *(
                w.post(new_message(rooms["general"], alice, f"m{i}", f"c{i}"), "Alice")
                for i in range(50)
            )
        )
    if engine.url.get_backend_name() == "sqlite":
        assert counts == {"begin": 1, "commit": 1}  # SQLAlchemy inserts row by row here
    else:  # one INSERT of all 50, its own transaction: no COMMIT (nor BEGIN) round trip
        assert len(inserts) == 1
        assert counts["commit"] == 0
    assert await count_messages(engine) == 50


async def test_a_connection_killed_mid_batch_fails_that_batch_retryably_then_recovers(
    writer: Started, engine: AsyncEngine
) -> None:
    w, rooms, alice = writer
    messages = [new_message(rooms["general"], alice, f"m{i}", f"c{i}") for i in range(5)]
    async with connection_killed_mid_batch(engine):
        failed = await asyncio.wait_for(
            asyncio.gather(*(w.post(m, "Alice") for m in messages), return_exceptions=True), 10
        )
    assert all(
        isinstance(error, StorageUnavailableError) and error.public()["retryable"] is True
        for error in failed
    ), failed
    retried = await asyncio.wait_for(asyncio.gather(*(w.post(m, "Alice") for m in messages)), 10)
    assert [created for _, created in retried] == [True] * 5  # the killed batch stored nothing
    assert await count_messages(engine) == 5


async def test_senders_cancelled_mid_batch_leave_the_writer_working(
    writer: Started, engine: AsyncEngine
) -> None:
    w, rooms, alice = writer
    bad = new_message(9999, alice, "orphan")  # no such room: the batch falls back to one by one
    good = [new_message(rooms["general"], alice, f"m{i}", f"c{i}") for i in range(4)]
    loop = asyncio.get_running_loop()

    def cancel_two(_conn: Any) -> None:
        for task in senders[1:3]:
            loop.call_soon_threadsafe(task.cancel)  # lands before the batch's outcome does

    with on_first_insert(engine, cancel_two):
        senders = [asyncio.create_task(w.post(m, "Alice")) for m in (bad, *good)]
        results = await asyncio.wait_for(asyncio.gather(*senders, return_exceptions=True), 10)
    assert isinstance(results[0], StorageError)
    assert not results[0].retryable  # the row itself is refused: a retry would not help
    assert [type(r) for r in results[1:3]] == [asyncio.CancelledError] * 2
    assert [r[0].text for r in results[3:] if isinstance(r, tuple)] == ["m2", "m3"]
    _, created = await asyncio.wait_for(
        w.post(new_message(rooms["general"], alice, "later", "c9"), "Alice"), 10
    )
    assert created
    async with engine.connect() as conn:
        texts = (await conn.execute(select(MESSAGES.c.text).order_by(MESSAGES.c.id))).scalars()
        assert list(texts) == ["m2", "m3", "later"]  # a sender that gave up gets nothing stored


async def test_an_ended_writer_task_answers_its_senders_and_is_restarted(
    writer: Started, engine: AsyncEngine
) -> None:
    w, rooms, alice = writer
    async with writes_blocked(engine):
        waiting = asyncio.create_task(
            w.post(new_message(rooms["general"], alice, "a", "a"), "Alice")
        )
        await asyncio.sleep(0.2)  # its batch is in flight, waiting for the lock
        writer_task().cancel()  # as a bug or an outside cancel would end it
        with pytest.raises(StorageUnavailableError):
            await asyncio.wait_for(waiting, 5)
    stored, created = await asyncio.wait_for(
        w.post(new_message(rooms["general"], alice, "b", "b"), "Alice"), 10
    )
    assert (stored.text, created) == ("b", True)


async def test_a_commit_late_past_the_timeout_is_retryable_and_a_retry_stores_once(
    engine: AsyncEngine,
) -> None:
    w, rooms, alice = await started_writer(engine, commit_timeout=0.5)
    message = new_message(rooms["general"], alice, "slow", "k1")
    try:
        async with writes_blocked(engine):
            with pytest.raises(StorageUnavailableError):
                await asyncio.wait_for(w.post(message, "Alice"), 5)
        # The timed-out write still commits once the lock is gone; the retry finds it.
        stored, created = await asyncio.wait_for(w.post(message, "Alice"), 5)
    finally:
        await w.stop()
    assert (stored.text, created) == ("slow", False)
    assert await count_messages(engine) == 1


async def test_stop_is_bounded_and_fails_what_it_could_not_write(engine: AsyncEngine) -> None:
    w, rooms, alice = await started_writer(engine, stop_timeout=0.3)
    async with writes_blocked(engine):
        senders = [
            asyncio.create_task(
                w.post(new_message(rooms["general"], alice, f"s{i}", f"s{i}"), "Alice")
            )
            for i in range(3)
        ]
        await asyncio.sleep(0.2)  # the batch is in flight, waiting for the lock
        started = time.monotonic()
        await asyncio.wait_for(w.stop(), 5)
        assert time.monotonic() - started < 2
        results = await asyncio.wait_for(asyncio.gather(*senders, return_exceptions=True), 1)
    assert all(isinstance(result, StorageUnavailableError) for result in results), results
    with pytest.raises(StorageUnavailableError):
        await w.post(new_message(rooms["general"], alice, "late", "late"), "Alice")


async def test_new_messages_are_stored_without_reading_messages_first(
    writer: Started, engine: AsyncEngine
) -> None:
    w, rooms, alice = writer
    with statements_on_messages(engine, "SELECT") as reads:
        results = await asyncio.gather(
            *(
                w.post(new_message(rooms["general"], alice, f"n{i}", f"n{i}"), "Alice")
                for i in range(5)
            )
        )
    assert all(created for _, created in results)
    assert reads == []  # no key of these was stored before: nothing to look up


async def test_a_retry_of_a_key_stored_elsewhere_returns_the_first_row_and_the_batch_is_kept(
    writer: Started, engine: AsyncEngine
) -> None:
    """A key this writer never stored (another node, or before a restart) meets the unique
    constraint: its batch is written again one message at a time, nothing is lost or doubled."""
    w, rooms, alice = writer
    repo = ChatRepository(engine)
    original, _ = await repo.post_message(new_message(rooms["general"], alice, "first", "k"))
    results = await asyncio.gather(
        w.post(new_message(rooms["general"], alice, "retried", "k"), "Alice"),
        w.post(new_message(rooms["general"], alice, "new one", "k2"), "Alice"),
        w.post(new_message(rooms["general"], alice, "no key"), "Alice"),
    )
    (retried, retried_created), (fresh, fresh_created), (_, unkeyed_created) = results
    assert (retried.id, retried.text, retried_created) == (original.id, "first", False)
    assert (fresh.text, fresh_created, unkeyed_created) == ("new one", True, True)
    assert await count_messages(engine) == 3
    # now it is known here: the next retry is read back without a failed insert
    with statements_on_messages(engine, "SELECT") as reads:
        again, created = await w.post(new_message(rooms["general"], alice, "x", "k"), "Alice")
    assert (again.id, created) == (original.id, False)
    assert len(reads) == 1
