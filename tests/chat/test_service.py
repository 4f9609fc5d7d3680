"""ChatService on SQLite and PostgreSQL: who may use which room, what a valid text is, what is stored."""

import asyncio
import re

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.chat import ChatService
from server.chat.errors import ForbiddenError
from server.chat.events import FetchHistoryPayload, SendMessagePayload, parse
from server.chat.service import message_view
from server.errors import AppError
from server.storage import StoredMessage
from tests.chat.conftest import (
    ISSUER,
    MAX_CHARS,
    identity,
    stored_rows,
    stored_users,
)


def send(room: str, text: str, client_id: str | None = None) -> SendMessagePayload:
    return parse(SendMessagePayload, {"room": room, "text": text, "client_id": client_id})


def page(room: str, **fields: int) -> FetchHistoryPayload:
    return parse(FetchHistoryPayload, {"room": room, **fields})


async def post_texts(chat: ChatService, room: str, texts: list[str]) -> list[StoredMessage]:
    alice = identity("alice", ("staff",))
    return [(await chat.post(alice, send(room, text)))[0] for text in texts]


# Room rules


@pytest.mark.parametrize(
    ("groups", "visible"),
    [
        ((), ["general"]),
        (("unrelated",), ["general"]),
        (("admins",), ["general", "staff"]),  # one of the room's two groups is enough
        (("staff", "unrelated"), ["general", "staff"]),
        (("ops", "admins"), ["general", "staff", "ops"]),
        (("Staff", "staff ", "staf", "ops-team"), ["general"]),  # group names match exactly
    ],
)
async def test_visible_rooms_are_open_rooms_and_rooms_sharing_a_group(
    rules: ChatService, groups: tuple[str, ...], visible: list[str]
) -> None:
    user = identity("alice", groups)
    assert [room.slug for room in rules.visible_rooms(user)] == visible
    for slug in ("general", "staff", "ops"):
        assert rules.may_access(user, slug) is (slug in visible)
        if slug in visible:
            assert rules.room(user, slug).slug == slug


async def test_a_non_member_is_forbidden_without_learning_the_groups(rules: ChatService) -> None:
    with pytest.raises(AppError) as info:
        rules.room(identity("mallory", ("ops",)), "staff")
    assert info.value.code == "forbidden"
    assert "admins" in str(info.value)  # for the log
    assert info.value.public() == ForbiddenError().public()


@pytest.mark.parametrize("slug", ["nowhere", "general-2", "generall", "gen"])
async def test_an_unknown_room_is_room_not_found_even_for_every_group(
    rules: ChatService, slug: str
) -> None:
    everyone = identity("root", ("staff", "admins", "ops"))
    assert not rules.may_access(everyone, slug)
    with pytest.raises(AppError) as info:
        rules.room(everyone, slug)
    assert info.value.code == "room_not_found"


async def test_posting_and_reading_need_room_access(rules: ChatService) -> None:
    outsider = identity("mallory")
    refusals = [
        (rules.post(outsider, send("staff", "hi")), "forbidden"),
        (rules.history(outsider, page("staff")), "forbidden"),
        (rules.post(outsider, send("nowhere", "hi")), "room_not_found"),
        (rules.history(outsider, page("nowhere")), "room_not_found"),
    ]
    for call, code in refusals:
        with pytest.raises(AppError) as info:
            await call
        assert info.value.code == code


# Text rules


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\t\r\n ",
        "\u3000\u2003\u00a0",  # Unicode spaces are blank too
        "\x00",
        "hello\x00world",  # PostgreSQL text cannot hold NUL
        "\ud800",
        "lone \udfff surrogate",  # what a JSON "\udfff" escape decodes to
    ],
)
async def test_blank_or_unstorable_text_is_invalid_request(rules: ChatService, text: str) -> None:
    with pytest.raises(AppError) as info:
        await rules.post(identity(), send("general", text))
    assert info.value.code == "invalid_request"


@pytest.mark.parametrize("char", ["x", "é", "日", "😀"])
async def test_one_character_over_the_limit_is_message_too_large(
    rules: ChatService, char: str
) -> None:
    with pytest.raises(AppError) as info:
        await rules.post(identity(), send("general", char * (MAX_CHARS + 1)))
    assert info.value.code == "message_too_large"


async def test_text_of_exactly_the_limit_is_stored_counting_characters_not_bytes(
    chat: ChatService, engine: AsyncEngine
) -> None:
    texts = [char * MAX_CHARS for char in ("x", "é", "日", "😀")]  # 1, 2, 3 and 4 UTF-8 bytes
    for text in texts:
        stored, created = await chat.post(identity(), send("general", text))
        assert created
        assert stored.text == text
    assert [row["text"] for row in await stored_rows(engine)] == texts


# Posting


async def test_a_message_is_stored_with_the_verified_identity_never_the_payload(
    chat: ChatService, engine: AsyncEngine
) -> None:
    forged = {"issuer": "https://evil.test", "subject": "mallory", "id": 1, "name": "Mallory"}
    data = {
        "room": "general",
        "text": "hi",
        "client_id": "c-1",
        **dict.fromkeys(("user", "sub", "subject", "name", "session_id"), "mallory"),
        "sender": forged,
        "sender_id": 999,
        "sender_issuer": "https://evil.test",
        "sender_subject": "mallory",
        "sender_session_id": "stolen",
    }
    alice = identity("alice", session_id="sess-A")
    stored, created = await chat.post(alice, parse(SendMessagePayload, data))
    assert created
    [user] = await stored_users(engine)
    [row] = await stored_rows(engine)
    assert (user["issuer"], user["subject"], user["name"]) == (ISSUER, "alice", "Alice")
    assert row["sender_id"] == user["id"] == stored.sender_id
    assert (row["sender_issuer"], row["sender_subject"]) == (ISSUER, "alice")
    assert row["sender_session_id"] == "sess-A"
    view = message_view(stored)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", view.pop("created_at"))
    assert view == {
        "id": row["id"],
        "room": "general",
        "text": "hi",
        "client_id": "c-1",
        "sender": {"id": user["id"], "issuer": ISSUER, "subject": "alice", "name": "Alice"},
    }


async def test_an_identity_without_a_session_id_stores_none(
    chat: ChatService, engine: AsyncEngine
) -> None:
    await chat.post(identity("alice", session_id=None), send("general", "hi"))
    [row] = await stored_rows(engine)
    assert row["sender_session_id"] is None


async def test_the_sender_name_follows_the_identity(chat: ChatService) -> None:
    first, _ = await chat.post(identity("alice", name="Alice"), send("general", "one"))
    second, _ = await chat.post(identity("alice", name="Alice L."), send("general", "two"))
    assert second.sender_id == first.sender_id
    assert (first.sender_name, second.sender_name) == ("Alice", "Alice L.")
    [again], _ = await chat.history(identity("bob"), page("general", after=first.id, limit=1))
    assert again.sender_name == "Alice L."


async def test_the_same_client_id_twice_stores_once(chat: ChatService, engine: AsyncEngine) -> None:
    first, created = await chat.post(identity(), send("general", "hello", "retry-1"))
    again, created_again = await chat.post(identity(), send("general", "hello", "retry-1"))
    assert (created, created_again) == (True, False)
    assert again == first
    assert [row["id"] for row in await stored_rows(engine)] == [first.id]


async def test_the_same_client_id_from_two_users_stores_two_rows(
    chat: ChatService, engine: AsyncEngine
) -> None:
    # A user is (issuer, subject): the same subject at another issuer is someone else.
    senders = [identity("alice"), identity("bob"), identity("alice", issuer="https://other.test")]
    texts = ["from alice", "from bob", "from the other alice"]
    for sender in senders:  # known users: the three posts below reach the writer in one batch
        await chat.post(sender, send("general", "hello"))
    at_once = await asyncio.gather(
        *(
            chat.post(sender, send("general", text, "same-id"))
            for sender, text in zip(senders, texts, strict=True)
        )
    )
    assert [created for _, created in at_once] == [True, True, True]
    assert len({stored.sender_id for stored, _ in at_once}) == 3
    for sender, (first, _) in zip(senders, at_once, strict=True):
        again, created = await chat.post(sender, send("general", "retry", "same-id"))
        assert (again, created) == (first, False)
    rows = await stored_rows(engine)
    assert [(row["sender_issuer"], row["sender_subject"], row["text"]) for row in rows[3:]] == [
        (ISSUER, "alice", "from alice"),
        (ISSUER, "bob", "from bob"),
        ("https://other.test", "alice", "from the other alice"),
    ]


async def test_concurrent_posts_each_get_their_own_committed_row(
    chat: ChatService, engine: AsyncEngine
) -> None:
    # Five users seen for the first time at once, ten messages each, half with a client_id.
    posts = [
        chat.post(identity(f"user{i % 5}"), send("general", f"m{i}", f"c{i}" if i % 2 else None))
        for i in range(50)
    ]
    results = await asyncio.gather(*posts)
    assert all(created for _, created in results)
    assert len({stored.id for stored, _ in results}) == 50
    rows = {row["id"]: row for row in await stored_rows(engine)}
    assert len(rows) == 50
    for i, (stored, _) in enumerate(results):
        row = rows[stored.id]
        assert (row["text"], row["sender_subject"]) == (f"m{i}", f"user{i % 5}")
        assert row["sender_id"] == stored.sender_id
    assert len(await stored_users(engine)) == 5


async def test_a_refused_post_leaves_no_trace(chat: ChatService, engine: AsyncEngine) -> None:
    refused = [
        (identity("mallory"), send("staff", "hi")),
        (identity("mallory"), send("nowhere", "hi")),
        (identity("mallory"), send("general", " ")),
        (identity("mallory"), send("general", "x" * (MAX_CHARS + 1))),
    ]
    for sender, payload in refused:
        with pytest.raises(AppError):
            await chat.post(sender, payload)
    assert await stored_rows(engine) == []
    assert await stored_users(engine) == []


# History


async def test_history_pages_backwards_and_forwards_in_ascending_order(
    chat: ChatService,
) -> None:
    m = await post_texts(chat, "general", [f"m{i}" for i in range(7)])
    await post_texts(chat, "staff", ["elsewhere"])
    bob = identity("bob")

    async def texts(**fields: int) -> tuple[list[str], bool]:
        messages, has_more = await chat.history(bob, page("general", **fields))
        assert all(message.room_slug == "general" for message in messages)
        return [message.text for message in messages], has_more

    assert await texts(limit=3) == (["m4", "m5", "m6"], True)
    assert await texts(before=m[4].id, limit=3) == (["m1", "m2", "m3"], True)
    assert await texts(before=m[1].id, limit=3) == (["m0"], False)
    assert await texts(before=m[0].id) == ([], False)
    assert await texts(after=0, limit=3) == (["m0", "m1", "m2"], True)
    assert await texts(after=m[2].id, limit=3) == (["m3", "m4", "m5"], True)
    assert await texts(after=m[3].id, limit=3) == (["m4", "m5", "m6"], False)
    assert await texts(after=m[6].id) == ([], False)
    assert await texts() == ([f"m{i}" for i in range(7)], False)  # the default limit is 50
    assert await texts(limit=7) == ([f"m{i}" for i in range(7)], False)
    assert await texts(limit=6) == ([f"m{i}" for i in range(1, 7)], True)


async def test_history_of_a_room_is_refused_to_non_members(chat: ChatService) -> None:
    [secret] = await post_texts(chat, "staff", ["secret"])
    for outsider in (identity("mallory"), identity("mallory", ("ops",))):
        with pytest.raises(AppError) as info:
            await chat.history(outsider, page("staff", after=0))
        assert info.value.code == "forbidden"
    messages, _ = await chat.history(identity("root", ("admins",)), page("staff"))
    assert [message.id for message in messages] == [secret.id]
