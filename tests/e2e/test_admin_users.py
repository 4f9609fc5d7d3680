"""Admins and users, against a real server: search, block and unblock, end sessions."""

import asyncio
from typing import Any

import httpx

from server.admin import PREFIX
from tests.e2e.conftest import Accounts
from tests.e2e.test_admin_api import admin_server, headers
from tests.e2e.test_sessions import EventClient
from tests.support.clients import refusal
from tests.support.live import LiveServer

__all__ = ["admin_server"]


async def find_user(http: httpx.AsyncClient, dana: dict[str, str], name: str) -> dict[str, Any]:
    response = await http.get(PREFIX + "/users", params={"q": name}, headers=dana)
    assert response.status_code == 200, response.text
    [user] = response.json()["users"]
    return dict(user)


async def test_a_signed_in_user_is_listed_with_provider_groups_and_last_seen(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    alice = EventClient()
    await alice.connect(admin_server.url, accounts.auth("alice"))
    dana = headers(accounts, "dana")
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        user = await find_user(http, dana, "alice anderson")
        assert user["provider"] == "dev"
        assert user["groups"] == ["engineering", "staff"]
        assert user["last_seen_at"] is not None
        assert user["blocked"] is False
        detail = (await http.get(f"{PREFIX}/users/{user['id']}", headers=dana)).json()["user"]
        assert detail["live_sessions"] == {"total": 1, "processes": 1, "here": 1}
        missing = await http.get(f"{PREFIX}/users/999999", headers=dana)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        nobody = await http.get(PREFIX + "/users", params={"q": "%"}, headers=dana)
        assert nobody.json()["users"] == []  # LIKE wildcards are matched literally
    await alice.close()


async def test_blocking_ends_the_users_sockets_and_refuses_them_until_unblocked(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    alice = EventClient()
    await alice.connect(admin_server.url, accounts.auth("alice"))
    bob = EventClient()
    await bob.connect(admin_server.url, accounts.auth("bob"))
    dana = headers(accounts, "dana")
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        user = await find_user(http, dana, "alice anderson")
        blocked = await http.post(f"{PREFIX}/users/{user['id']}/block", headers=dana)
        assert blocked.status_code == 200, blocked.text
        assert blocked.json()["ended_sessions"] == 1
        assert blocked.json()["user"]["blocked"] is True
        assert await alice.wait_event("session_ended") == {"reason": "blocked"}
        await asyncio.wait_for(alice.disconnected.wait(), 5)
        assert (await refusal(admin_server.url, accounts.auth("alice")))[
            "code"
        ] == "account_blocked"
        assert (await bob.call("list_rooms"))["ok"] is True  # nobody else is touched
        unblocked = await http.post(f"{PREFIX}/users/{user['id']}/unblock", headers=dana)
        assert unblocked.json()["user"]["blocked"] is False
        again = EventClient()
        await again.connect(admin_server.url, accounts.auth("alice"))
        await again.close()
        actions = [
            e["action"] for e in (await http.get(PREFIX + "/audit", headers=dana)).json()["entries"]
        ]
        assert actions[-2:] == ["user.block", "user.unblock"]
    await bob.close()


async def test_a_blocked_admin_is_refused_by_the_admin_api_too(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    dana = headers(accounts, "dana")
    carol = EventClient()
    await carol.connect(admin_server.url, accounts.auth("carol"))
    await carol.close()
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        me = await http.get(PREFIX + "/me", headers=dana)
        assert me.status_code == 200
        dana_user = await find_user(http, dana, "dana diaz")
        assert (
            await http.post(f"{PREFIX}/users/{dana_user['id']}/block", headers=dana)
        ).status_code == 200
        refused = await http.get(PREFIX + "/me", headers=dana)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "account_blocked"


async def test_ending_a_users_sessions_signs_them_out_and_refuses_the_old_tokens(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    alice = EventClient()
    await alice.connect(admin_server.url, accounts.auth("alice"))
    dana = headers(accounts, "dana")
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        user = await find_user(http, dana, "alice anderson")
        ended = await http.post(f"{PREFIX}/users/{user['id']}/end-sessions", headers=dana)
        assert ended.status_code == 200, ended.text
        assert ended.json()["ended_sessions"] == 1
        assert await alice.wait_event("session_ended") == {"reason": "logged_out"}
        assert (await refusal(admin_server.url, accounts.auth("alice")))[
            "code"
        ] == "session_revoked"
