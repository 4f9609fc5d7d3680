"""The happy path end to end: real provider, real sign-in, real server, real Socket.IO clients."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from devidp.process import DevIdp
from server.storage import create_engine
from server.storage.repository import MESSAGES, USERS
from tests.e2e.conftest import Accounts
from tests.support.clients import ChatClient, connected
from tests.support.databases import migrated_database
from tests.support.live import LiveServer, dev_provider, make_settings


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_server(
    request: pytest.FixtureRequest, devidp: DevIdp, tmp_path: Path
) -> Iterator[LiveServer]:
    with migrated_database(request.param, tmp_path) as url:
        settings = make_settings(database_url=url, providers=[dev_provider(devidp.issuer)])
        with LiveServer(settings) as live:
            yield live


async def stored_rows(database_url: str) -> list[dict[str, object]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = select(MESSAGES, USERS.c.name).join(USERS, USERS.c.id == MESSAGES.c.sender_id)
            return [dict(row._mapping) for row in await conn.execute(query.order_by(MESSAGES.c.id))]
    finally:
        await engine.dispose()


async def wait_for(client: ChatClient, count: int) -> None:
    for _ in range(200):
        if len(client.posted) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} message_posted, got {len(client.posted)}")


async def test_verified_sender_reaches_the_room_and_the_database(
    any_server: LiveServer, accounts: Accounts, devidp: DevIdp
) -> None:
    alice = await connected(any_server.url, accounts.auth("alice"))
    bob = await connected(any_server.url, accounts.auth("bob"))
    try:
        assert (await alice.call("join", {"room": "general"}))["ok"]
        assert (await bob.call("join", {"room": "general"}))["ok"]
        ack = await alice.call(
            "send_message", {"room": "general", "text": "hello bob", "client_id": "c-1"}
        )
        assert ack["ok"]
        await wait_for(bob, 1)
    finally:
        await alice.close()
        await bob.close()
    message = bob.posted[0]
    assert message == ack["message"]
    assert message["text"] == "hello bob"
    assert message["sender"]["issuer"] == devidp.issuer
    assert message["sender"]["subject"] == "u-alice-0001"
    assert message["sender"]["name"] == "Alice Anderson"
    assert message["created_at"].endswith("Z")
    rows = await stored_rows(any_server.settings.database.url)
    assert len(rows) == 1
    assert (rows[0]["sender_issuer"], rows[0]["sender_subject"]) == (devidp.issuer, "u-alice-0001")
    assert rows[0]["name"] == "Alice Anderson"


async def test_identity_fields_in_a_payload_are_ignored(
    server: LiveServer, accounts: Accounts
) -> None:
    bob = await connected(server.url, accounts.auth("bob"))
    try:
        ack = await bob.call(
            "send_message",
            {
                "room": "general",
                "text": "I am alice",
                "sender": {"subject": "u-alice-0001", "name": "Alice Anderson"},
                "sub": "u-alice-0001",
                "issuer": "https://evil.test",
                "name": "Alice Anderson",
            },
        )
    finally:
        await bob.close()
    assert ack["ok"]
    assert ack["message"]["sender"]["subject"] == "u-bob-0002"
    assert ack["message"]["sender"]["name"] == "Bob Brown"
    rows = await stored_rows(server.settings.database.url)
    assert [(r["sender_subject"], r["name"]) for r in rows] == [("u-bob-0002", "Bob Brown")]


async def test_retry_with_the_same_client_id_stores_once(
    server: LiveServer, accounts: Accounts
) -> None:
    alice = await connected(server.url, accounts.auth("alice"))
    observer = await connected(server.url, accounts.auth("bob"))
    try:
        await observer.call("join", {"room": "general"})
        payload = {"room": "general", "text": "once", "client_id": "retry-1"}
        first, second = await asyncio.gather(
            alice.call("send_message", payload), alice.call("send_message", payload)
        )
        third = await alice.call("send_message", payload)
        await wait_for(observer, 1)
        await asyncio.sleep(0.2)
    finally:
        await alice.close()
        await observer.close()
    assert first["message"] == second["message"] == third["message"]
    assert len(observer.posted) == 1
    assert len(await stored_rows(server.settings.database.url)) == 1


async def test_history_pages_are_ordered(server: LiveServer, accounts: Accounts) -> None:
    alice = await connected(server.url, accounts.auth("alice"))
    try:
        for i in range(5):
            assert (await alice.call("send_message", {"room": "general", "text": f"m{i}"}))["ok"]
        page = await alice.call("fetch_history", {"room": "general", "limit": 2})
        older = await alice.call(
            "fetch_history", {"room": "general", "limit": 2, "before": page["messages"][0]["id"]}
        )
        missed = await alice.call(
            "fetch_history", {"room": "general", "after": older["messages"][0]["id"]}
        )
    finally:
        await alice.close()
    assert [m["text"] for m in page["messages"]] == ["m3", "m4"]
    assert page["has_more"]
    assert [m["text"] for m in older["messages"]] == ["m1", "m2"]
    assert older["has_more"]
    assert [m["text"] for m in missed["messages"]] == ["m2", "m3", "m4"]
    assert not missed["has_more"]


async def test_room_groups_are_enforced(server: LiveServer, accounts: Accounts) -> None:
    alice = await connected(server.url, accounts.auth("alice"))  # staff, engineering
    bob = await connected(server.url, accounts.auth("bob"))  # staff
    try:
        assert [r["slug"] for r in (await bob.call("list_rooms"))["rooms"]] == ["general"]
        assert [r["slug"] for r in (await alice.call("list_rooms"))["rooms"]] == [
            "general",
            "engineering",
        ]
        assert (await alice.call("join", {"room": "engineering"}))["ok"]
        denied = [
            await bob.call("join", {"room": "engineering"}),
            await bob.call("send_message", {"room": "engineering", "text": "let me in"}),
            await bob.call("fetch_history", {"room": "engineering"}),
        ]
        await asyncio.sleep(0.2)
    finally:
        await alice.close()
        await bob.close()
    assert [d["error"]["code"] for d in denied] == ["forbidden"] * 3
    assert alice.posted == []
    assert await stored_rows(server.settings.database.url) == []
