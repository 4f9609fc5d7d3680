"""The batching writer on SQLite and PostgreSQL: one commit per batch, each message once."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage import ChatRepository, MessageWriter, NewMessage
from server.storage.repository import MESSAGES
from tests.storage.test_repository import count_messages, new_message


@pytest.fixture
async def writer(engine: AsyncEngine) -> AsyncIterator[tuple[MessageWriter, dict[str, int], int]]:
    repo = ChatRepository(engine)
    rooms = await repo.sync_rooms([("general", "General"), ("other", "Other")])
    slugs = {room_id: slug for slug, room_id in rooms.items()}
    alice = await repo.upsert_user("https://idp.test", "alice", "Alice")
    writer = MessageWriter(engine, repo, lambda room_id: slugs[room_id])
    writer.start()
    yield writer, rooms, alice
    await writer.stop()


async def test_concurrent_posts_are_all_stored_in_order(
    writer: tuple[MessageWriter, dict[str, int], int], engine: AsyncEngine
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
    writer: tuple[MessageWriter, dict[str, int], int], engine: AsyncEngine
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
    writer: tuple[MessageWriter, dict[str, int], int],
) -> None:
    w, rooms, alice = writer
    original, _ = await w.post(new_message(rooms["other"], alice, "here", "k"), "Alice")
    retried, created = await w.post(new_message(rooms["general"], alice, "there", "k"), "Alice")
    assert not created
    assert (retried.id, retried.room_slug, retried.text) == (original.id, "other", "here")


async def test_a_bad_row_fails_alone(
    writer: tuple[MessageWriter, dict[str, int], int], engine: AsyncEngine
) -> None:
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
