"""Admins and rooms, against a real server: changes reach live sockets at once."""

import httpx

from server.admin import PREFIX
from tests.e2e.conftest import Accounts
from tests.e2e.test_admin_api import admin_server, headers
from tests.e2e.test_sessions import EventClient
from tests.support.live import LiveServer

__all__ = ["admin_server"]


async def test_a_room_created_at_runtime_is_listed_and_joinable(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    bob = EventClient()
    await bob.connect(admin_server.url, accounts.auth("bob"))
    dana = headers(accounts, "dana")
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        made = await http.post(
            PREFIX + "/rooms", json={"slug": "launch", "name": "Launch"}, headers=dana
        )
        assert made.status_code == 201, made.text
        assert made.json()["room"] == {
            "slug": "launch",
            "name": "Launch",
            "allowed_groups": [],
            "archived": False,
        }
        again = await http.post(
            PREFIX + "/rooms", json={"slug": "launch", "name": "X"}, headers=dana
        )
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "conflict"
        bad = await http.post(
            PREFIX + "/rooms", json={"slug": "Bad Slug!", "name": ""}, headers=dana
        )
        assert bad.status_code == 400
        assert {f["field"] for f in bad.json()["error"]["fields"]} == {"slug", "name"}
    rooms = await bob.call("list_rooms")
    assert "launch" in [r["slug"] for r in rooms["rooms"]]
    assert (await bob.call("join", {"room": "launch"}))["ok"] is True
    await bob.close()


async def test_restricting_a_room_revokes_live_members_at_once(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    alice = EventClient()
    await alice.connect(admin_server.url, accounts.auth("alice"))
    bob = EventClient()
    await bob.connect(admin_server.url, accounts.auth("bob"))
    for client in (alice, bob):
        assert (await client.call("join", {"room": "general"}))["ok"] is True
    dana = headers(accounts, "dana")
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        changed = await http.patch(
            PREFIX + "/rooms/general", json={"allowed_groups": ["engineering"]}, headers=dana
        )
        assert changed.status_code == 200, changed.text
        assert await bob.wait_event("room_access_revoked") == {"room": "general"}
        sent = await bob.call("send_message", {"room": "general", "text": "still here?"})
        assert sent["error"]["code"] == "forbidden"
        ok = await alice.call("send_message", {"room": "general", "text": "engineers only"})
        assert ok["ok"] is True
        assert not [e for e, _ in alice.events if e == "room_access_revoked"]
        archived = await http.patch(
            PREFIX + "/rooms/general", json={"archived": True}, headers=dana
        )
        assert archived.json()["room"]["archived"] is True
        assert await alice.wait_event("room_access_revoked") == {"room": "general"}
        assert (await alice.call("join", {"room": "general"}))["error"]["code"] == "forbidden"
        slug_change = await http.patch(PREFIX + "/rooms/general", json={"slug": "x"}, headers=dana)
        assert slug_change.status_code == 400
        in_file = await http.delete(PREFIX + "/rooms/general", headers=dana)
        assert in_file.status_code == 409
        assert in_file.json()["error"]["code"] == "room_in_file"  # archive it instead
        entries = (await http.get(PREFIX + "/audit", headers=dana)).json()["entries"]
        assert [e["action"] for e in entries][-2:] == ["room.update", "room.update"]
        assert entries[-2]["details"]["before"]["allowed_groups"] == []
    await alice.close()
    await bob.close()


async def test_a_runtime_room_that_holds_messages_is_archived_not_deleted(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    dana = headers(accounts, "dana")
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        await http.post(PREFIX + "/rooms", json={"slug": "talk", "name": "Talk"}, headers=dana)
        bob = EventClient()
        await bob.connect(admin_server.url, accounts.auth("bob"))
        assert (await bob.call("send_message", {"room": "talk", "text": "hi"}))["ok"] is True
        await bob.close()
        in_use = await http.delete(PREFIX + "/rooms/talk", headers=dana)
        assert in_use.status_code == 409
        assert in_use.json()["error"]["code"] == "conflict"


async def test_an_empty_room_is_deleted_and_unknown_rooms_are_404(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    dana = headers(accounts, "dana")
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        await http.post(PREFIX + "/rooms", json={"slug": "tmp", "name": "Tmp"}, headers=dana)
        assert (await http.delete(PREFIX + "/rooms/tmp", headers=dana)).status_code == 200
        for method in ("GET", "PATCH", "DELETE"):
            response = await http.request(method, PREFIX + "/rooms/tmp", json={}, headers=dana)
            assert response.status_code == 404, method
            assert response.json()["error"]["code"] == "not_found"


async def test_the_impact_of_new_allowed_groups_counts_known_users(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    for user in ("alice", "bob", "carol"):  # engineering+staff, staff, no group: all known now
        client = EventClient()
        await client.connect(admin_server.url, accounts.auth(user))
        await client.close()
    dana = headers(accounts, "dana")  # staff, chat-admins: known once she calls the API
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        listed = await http.get(PREFIX + "/users", headers=dana)  # writes the pending sign-ins
        assert len(listed.json()["users"]) == 4
        response = await http.post(
            PREFIX + "/rooms/general/impact", json={"allowed_groups": ["staff"]}, headers=dana
        )
        assert response.status_code == 200, response.text
        assert response.json()["impact"] == {
            "known_users": 4,
            "may_see": 4,
            "would_lose": 1,  # carol
            "would_gain": 0,
        }
        narrowed = await http.post(
            PREFIX + "/rooms/engineering/impact", json={"allowed_groups": []}, headers=dana
        )
        assert narrowed.json()["impact"]["would_gain"] == 3  # everyone but alice
        bad = await http.post(
            PREFIX + "/rooms/general/impact", json={"allowed_groups": "staff"}, headers=dana
        )
        assert bad.status_code == 400
