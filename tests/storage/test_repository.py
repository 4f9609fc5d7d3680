"""The repository on SQLite and on PostgreSQL: users, rooms, idempotent messages, history pages."""

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage import ChatRepository, NewMessage, RoomInUseError, RoomRepository
from server.storage.repository import MESSAGES


def new_message(
    room_id: int, sender_id: int, text: str, client_id: str | None = None
) -> NewMessage:
    return NewMessage(
        room_id=room_id,
        sender_id=sender_id,
        text=text,
        client_id=client_id,
        sender_issuer="https://idp.test",
        sender_subject="alice",
        sender_session_id="sid-1",
    )


async def count_messages(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(MESSAGES))).scalar_one())


async def test_users_are_keyed_by_issuer_and_subject(engine: AsyncEngine) -> None:
    repo = ChatRepository(engine)
    alice = await repo.upsert_user("https://a.test", "u1", "Alice")
    assert await repo.upsert_user("https://a.test", "u1", "Alice A.") == alice
    assert await repo.upsert_user("https://b.test", "u1", "Other") != alice


async def test_concurrent_first_sight_creates_one_user(engine: AsyncEngine) -> None:
    repo = ChatRepository(engine)
    ids = await asyncio.gather(*(repo.upsert_user("https://a.test", "u1", "A") for _ in range(5)))
    assert len(set(ids)) == 1


async def test_rooms_are_seeded_once_and_then_kept_as_the_table_has_them(
    engine: AsyncEngine,
) -> None:
    repo = RoomRepository(engine)
    first = await repo.seed([("general", "General", ()), ("eng", "Engineering", ("eng",))])
    again = await repo.seed([("general", "General chat", ())])
    assert again == first
    assert set(first) == {"general", "eng"}
    rooms = {room.slug: room for room in await repo.rooms()}
    assert rooms["general"].name == "General"  # the table wins over a renamed file entry
    assert rooms["eng"].allowed_groups == ("eng",)
    assert await repo.revision() == 0  # seeding is no admin change


async def test_room_changes_are_counted_and_a_room_with_messages_is_not_deleted(
    engine: AsyncEngine,
) -> None:
    rooms = RoomRepository(engine)
    ids = await rooms.seed([("general", "General", ())])
    assert await rooms.insert("ops", "Ops", ("ops",))
    assert not await rooms.insert("ops", "Ops again", ())
    assert await rooms.update("ops", "Operations", ("ops", "sre"), archived=True)
    [ops] = [r for r in await rooms.rooms() if r.slug == "ops"]
    assert (ops.name, ops.allowed_groups, ops.archived) == ("Operations", ("ops", "sre"), True)
    assert not await rooms.update("nowhere", "x", (), archived=False)
    repo = ChatRepository(engine)
    alice = await repo.upsert_user("https://idp.test", "alice", "Alice")
    await repo.post_message(new_message(ids["general"], alice, "hi"))
    with pytest.raises(RoomInUseError):
        await rooms.delete("general")
    assert await rooms.delete("ops")
    assert not await rooms.delete("ops")
    assert await rooms.revision() == 3


async def test_message_is_stored_with_provenance(engine: AsyncEngine) -> None:
    repo = ChatRepository(engine)
    rooms = await RoomRepository(engine).seed([("general", "General", ())])
    alice = await repo.upsert_user("https://idp.test", "alice", "Alice")
    stored, created = await repo.post_message(new_message(rooms["general"], alice, "héllo ✓"))
    assert created
    assert (stored.text, stored.room_slug, stored.sender_name) == ("héllo ✓", "general", "Alice")
    assert (stored.sender_issuer, stored.sender_subject) == ("https://idp.test", "alice")
    assert stored.created_at.tzinfo is not None


async def test_same_client_id_stores_once(engine: AsyncEngine) -> None:
    repo = ChatRepository(engine)
    rooms = await RoomRepository(engine).seed([("general", "General", ())])
    alice = await repo.upsert_user("https://idp.test", "alice", "Alice")
    first, created = await repo.post_message(new_message(rooms["general"], alice, "hi", "c-1"))
    again, created_again = await repo.post_message(
        new_message(rooms["general"], alice, "hi", "c-1")
    )
    assert created
    assert not created_again
    assert again == first
    assert await count_messages(engine) == 1


async def test_concurrent_retries_store_once(engine: AsyncEngine) -> None:
    repo = ChatRepository(engine)
    rooms = await RoomRepository(engine).seed([("general", "General", ())])
    alice = await repo.upsert_user("https://idp.test", "alice", "Alice")
    results = await asyncio.gather(
        *(repo.post_message(new_message(rooms["general"], alice, "hi", "c-1")) for _ in range(5))
    )
    assert len({stored.id for stored, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert await count_messages(engine) == 1


async def test_client_ids_are_per_sender(engine: AsyncEngine) -> None:
    repo = ChatRepository(engine)
    rooms = await RoomRepository(engine).seed([("general", "General", ())])
    alice = await repo.upsert_user("https://idp.test", "alice", "Alice")
    bob = await repo.upsert_user("https://idp.test", "bob", "Bob")
    await repo.post_message(new_message(rooms["general"], alice, "hi", "c-1"))
    _, created = await repo.post_message(new_message(rooms["general"], bob, "hi", "c-1"))
    assert created
    assert await count_messages(engine) == 2


async def test_unknown_room_leaves_no_row(engine: AsyncEngine) -> None:
    repo = ChatRepository(engine)
    alice = await repo.upsert_user("https://idp.test", "alice", "Alice")
    with pytest.raises(IntegrityError):
        await repo.post_message(new_message(9999, alice, "orphan"))
    assert await count_messages(engine) == 0


async def test_history_pages_backwards_and_forwards_in_order(engine: AsyncEngine) -> None:
    repo = ChatRepository(engine)
    rooms = await RoomRepository(engine).seed([("general", "General", ()), ("other", "Other", ())])
    alice = await repo.upsert_user("https://idp.test", "alice", "Alice")
    ids = [
        (await repo.post_message(new_message(rooms["general"], alice, f"m{i}")))[0].id
        for i in range(7)
    ]
    await repo.post_message(new_message(rooms["other"], alice, "elsewhere"))

    latest, more = await repo.history(rooms["general"], before=None, after=None, limit=3)
    assert [m.text for m in latest] == ["m4", "m5", "m6"]
    assert more
    older, more = await repo.history(rooms["general"], before=latest[0].id, after=None, limit=3)
    assert [m.text for m in older] == ["m1", "m2", "m3"]
    assert more
    oldest, more = await repo.history(rooms["general"], before=older[0].id, after=None, limit=3)
    assert [m.text for m in oldest] == ["m0"]
    assert not more
    missed, more = await repo.history(rooms["general"], before=None, after=ids[4], limit=10)
    assert [m.text for m in missed] == ["m5", "m6"]
    assert not more
