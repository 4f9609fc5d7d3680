"""RoomCuration on SQLite and PostgreSQL: the admin's room changes, how they reach the rooms a
user sees on this process and on another one, and their audit trail."""

import json
from collections.abc import AsyncIterator, Awaitable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import Actor, AuditLog
from server.chat import ChatService, RoomCuration
from server.chat.events import SendMessagePayload, parse
from server.errors import AppError, InvalidFieldsError
from server.storage import AuditRepository, RoomRepository, UserRepository
from tests.chat.conftest import MAX_CHARS, ROOMS, identity
from tests.support.chat import make_chat

ADMIN = Actor(provider_id="admins", issuer="https://admins.test", subject="dana", name="Dana")


class RecordingRooms:
    """A RoomTransport that counts how often live sockets were told to re-check their rooms."""

    def __init__(self) -> None:
        self.changes = 0

    async def rooms_changed(self) -> None:
        self.changes += 1


@pytest.fixture
def transport(chat: ChatService) -> RecordingRooms:
    recording = RecordingRooms()
    chat.attach(recording)
    return recording


@pytest.fixture
def audit(engine: AsyncEngine) -> AuditLog:
    return AuditLog(AuditRepository(engine))


@pytest.fixture
def curation(engine: AsyncEngine, chat: ChatService, audit: AuditLog) -> RoomCuration:
    file_rooms = [room.slug for room in ROOMS]
    return RoomCuration(RoomRepository(engine), chat, audit, UserRepository(engine), file_rooms)


@pytest.fixture
async def second(engine: AsyncEngine) -> AsyncIterator[ChatService]:
    """The ChatService of another server process on the same database."""
    service = make_chat(engine, ROOMS, MAX_CHARS)
    await service.start()
    yield service
    await service.stop()


def send(room: str, text: str = "hello") -> SendMessagePayload:
    return parse(SendMessagePayload, {"room": room, "text": text})


async def code_of(call: Awaitable[object]) -> str:
    """The code of the AppError an awaitable raises; fails the test if it succeeds."""
    with pytest.raises(AppError) as info:
        await call
    return info.value.code


def room_code(chat: ChatService, sub: str, groups: tuple[str, ...], slug: str) -> str:
    with pytest.raises(AppError) as info:
        chat.room(identity(sub, groups), slug)
    return info.value.code


def visible(chat: ChatService, groups: tuple[str, ...] = ()) -> list[str]:
    return [room.slug for room in chat.visible_rooms(identity("someone", groups))]


async def test_rooms_are_created_renamed_and_deleted(
    curation: RoomCuration, chat: ChatService
) -> None:
    created = await curation.create(ADMIN, {"slug": "random", "name": "Random"})
    assert (created.slug, created.name, created.allowed_groups, created.archived) == (
        "random",
        "Random",
        (),
        False,
    )
    assert "random" in curation.visible_to(identity("bob"))
    assert chat.room(identity("bob"), "random").name == "Random"

    renamed = await curation.update(ADMIN, "random", {"name": "Off topic"})
    assert renamed.name == "Off topic"
    assert chat.room(identity("bob"), "random").name == "Off topic"

    await curation.delete(ADMIN, "random")
    assert await code_of(curation.get("random")) == "not_found"
    assert room_code(chat, "bob", (), "random") == "room_not_found"
    assert [room.slug for room in await curation.list()] == ["general", "staff", "ops"]


async def test_invalid_room_changes_are_refused_with_their_codes(curation: RoomCuration) -> None:
    assert await code_of(curation.create(ADMIN, {"slug": "general", "name": "x"})) == "conflict"
    archived = {"slug": "old", "name": "Old", "archived": True}
    assert await code_of(curation.create(ADMIN, archived)) == "invalid_request"
    with pytest.raises(InvalidFieldsError) as bad:
        await curation.create(ADMIN, {"slug": "Not A Slug", "name": ""})
    assert {f["field"] for f in bad.value.fields} == {"slug", "name"}
    with pytest.raises(InvalidFieldsError) as renamed:
        await curation.update(ADMIN, "general", {"slug": "elsewhere"})
    assert [f["field"] for f in renamed.value.fields] == ["slug"]
    assert await code_of(curation.update(ADMIN, "nowhere", {"name": "x"})) == "not_found"
    assert await code_of(curation.delete(ADMIN, "nowhere")) == "not_found"
    assert [room.name for room in await curation.list()] == ["General", "Staff", "Ops"]


async def test_an_allowed_groups_change_tells_the_transport_and_changes_visible_rooms(
    curation: RoomCuration, chat: ChatService, transport: RecordingRooms
) -> None:
    assert visible(chat) == ["general"]
    await curation.update(ADMIN, "general", {"allowed_groups": ["staff"]})
    assert transport.changes == 1
    assert visible(chat) == []
    assert visible(chat, ("staff",)) == ["general", "staff"]
    assert room_code(chat, "bob", (), "general") == "forbidden"
    assert await code_of(chat.post(identity("bob"), send("general"))) == "forbidden"

    await curation.update(ADMIN, "general", {"allowed_groups": []})
    assert transport.changes == 2
    assert visible(chat) == ["general"]


async def test_archived_rooms_are_invisible_and_refuse_room_and_post(
    curation: RoomCuration, chat: ChatService, transport: RecordingRooms
) -> None:
    staff = identity("alice", ("staff",))
    archived = await curation.update(ADMIN, "staff", {"archived": True})
    assert archived.archived is True
    assert transport.changes == 1
    assert visible(chat, ("staff",)) == ["general"]
    assert room_code(chat, "alice", ("staff",), "staff") == "forbidden"
    assert await code_of(chat.post(staff, send("staff"))) == "forbidden"
    assert "staff" in [room.slug for room in await curation.list()]  # kept, with its history

    await curation.update(ADMIN, "staff", {"archived": False})
    message, new = await chat.post(staff, send("staff"))
    assert (message.room_slug, new) == ("staff", True)


async def test_another_chat_service_applies_room_changes_at_sync_rooms(
    curation: RoomCuration, second: ChatService
) -> None:
    on_second = RecordingRooms()
    second.attach(on_second)
    erin = identity("erin", ("eng",))
    await curation.create(ADMIN, {"slug": "launch", "name": "Launch", "allowed_groups": ["eng"]})
    await curation.update(ADMIN, "general", {"allowed_groups": ["staff"]})
    assert room_code(second, "erin", ("eng",), "launch") == "room_not_found"
    assert visible(second) == ["general"]

    await second.sync_rooms()
    assert on_second.changes == 1
    assert second.room(erin, "launch").name == "Launch"
    assert visible(second) == []
    message, _ = await second.post(erin, send("launch"))
    assert message.room_slug == "launch"
    await second.sync_rooms()  # nothing changed since
    assert on_second.changes == 1


async def test_a_room_with_messages_cannot_be_deleted(
    curation: RoomCuration, chat: ChatService, audit: AuditLog
) -> None:
    await curation.create(ADMIN, {"slug": "random", "name": "Random"})
    await curation.create(ADMIN, {"slug": "empty", "name": "Empty"})
    await chat.post(identity("alice"), send("random"))
    assert await code_of(curation.delete(ADMIN, "random")) == "conflict"
    assert (await curation.get("random")).name == "Random"
    assert chat.room(identity("alice"), "random").slug == "random"
    await curation.delete(ADMIN, "empty")  # an empty room can go
    actions = [row.action for row in await audit.page()]
    assert actions == ["room.create", "room.create", "room.delete"]


async def test_a_room_of_the_configuration_file_cannot_be_deleted(
    curation: RoomCuration, chat: ChatService
) -> None:
    assert await code_of(curation.delete(ADMIN, "ops")) == "room_in_file"
    assert chat.room(identity("olga", ("ops",)), "ops").slug == "ops"


async def test_room_changes_are_audited_and_the_chain_verifies(
    curation: RoomCuration, audit: AuditLog
) -> None:
    await curation.create(ADMIN, {"slug": "random", "name": "Random"})
    await curation.update(ADMIN, "random", {"allowed_groups": ["eng"], "archived": True})
    await curation.delete(ADMIN, "random")

    rows = await audit.page()
    assert [(r.action, r.target, r.actor_subject) for r in rows] == [
        ("room.create", "room:random", "dana"),
        ("room.update", "room:random", "dana"),
        ("room.delete", "room:random", "dana"),
    ]
    create, update, delete = (json.loads(r.details) for r in rows)
    assert (create["before"], create["after"]["name"]) == (None, "Random")
    assert update["before"]["allowed_groups"] == []
    assert (update["after"]["allowed_groups"], update["after"]["archived"]) == (["eng"], True)
    assert (delete["before"]["allowed_groups"], delete["after"]) == (["eng"], None)
    report = await audit.verify(await audit.head())
    assert (report.ok, report.checked) == (True, 3)
