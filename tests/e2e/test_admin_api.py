"""The admin API against a real server and real sign-ins: the guard on every route, providers at
runtime, the audit trail."""

import asyncio
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import server.admin
from devidp.process import DevIdp
from devidp.signin import sign_in
from server.admin import PREFIX, AdminApi
from tests.e2e.conftest import Accounts
from tests.e2e.test_sessions import EventClient
from tests.support.clients import refusal
from tests.support.live import LiveServer, dev_provider, make_settings

ADMIN_GROUPS = {"groups": ["chat-admins"]}


@pytest.fixture
def admin_server(devidp: DevIdp, sqlite_url: str) -> Iterator[LiveServer]:
    settings = make_settings(
        database_url=sqlite_url,
        providers=[dev_provider(devidp.issuer)],
        admin={**ADMIN_GROUPS, "sync_seconds": 0.2},
        sessions={"presence_seconds": 0.2},
    )
    with LiveServer(settings) as live:
        yield live


def headers(accounts: Accounts, user: str) -> dict[str, str]:
    tokens = accounts.tokens(user)
    return {"Authorization": f"Bearer {tokens.access_token}", "X-Id-Token": tokens.id_token}


def route_table() -> list[tuple[str, str]]:
    """Every (method, path) the admin API serves: the tables of every route class that
    server.admin exports (a new class or a new route in one is found here by itself)."""
    classes: list[Any] = [
        c for c in vars(server.admin).values() if isinstance(c, type) and hasattr(c, "table")
    ]
    # The handlers are only looked up, never run: no collaborator is needed.
    tables = [object.__new__(cls).table() for cls in classes]
    api = AdminApi(None, tables)  # type: ignore[arg-type]
    found = []
    for route in api.routes():
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                path = route.path.replace("{provider_id}", "dev").replace("{user_id:int}", "1")
                path = path.replace("{slug}", "general").replace("{rest:path}", "no/such/route")
                found.append((method, path))
    return found


ROUTES = route_table()


def test_the_route_table_covers_the_api() -> None:
    assert len(ROUTES) >= 25
    assert all(path.startswith(PREFIX) for _, path in ROUTES)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_a_request_without_a_token(
    admin_server: LiveServer, method: str, path: str
) -> None:
    response = httpx.request(method, admin_server.url + path, json={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_a_forged_token(
    admin_server: LiveServer, method: str, path: str
) -> None:
    forged = {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}
    response = httpx.request(method, admin_server.url + path, json={}, headers=forged)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"invalid_token", "unknown_issuer"}


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_a_signed_in_user_who_is_not_an_admin(
    admin_server: LiveServer, accounts: Accounts, method: str, path: str
) -> None:
    response = httpx.request(
        method, admin_server.url + path, json={}, headers=headers(accounts, "bob")
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_an_unknown_admin_route_is_a_404_for_an_admin_only(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    url = admin_server.url + PREFIX + "/no/such/route"
    assert httpx.get(url).status_code == 401
    response = httpx.get(url, headers=headers(accounts, "dana"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_admin_is_told_who_they_are(admin_server: LiveServer, accounts: Accounts) -> None:
    response = httpx.get(admin_server.url + PREFIX + "/me", headers=headers(accounts, "dana"))
    assert response.status_code == 200
    assert response.json()["admin"]["name"] == "Dana Diaz"
    assert "chat-admins" in response.json()["admin"]["groups"]


def test_other_schemes_and_junk_authorization_are_invalid_tokens(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    tokens = accounts.tokens("dana")
    for value in (f"Basic {tokens.access_token}", "Bearer", "Token abc", "Bearer " + "x" * 20000):
        response = httpx.get(admin_server.url + PREFIX + "/me", headers={"Authorization": value})
        assert response.status_code == 401, value[:20]
        assert response.json()["error"]["code"] == "invalid_token"


def test_the_file_provider_is_seeded_and_listed_with_its_state(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    response = httpx.get(
        admin_server.url + PREFIX + "/providers", headers=headers(accounts, "dana")
    )
    assert response.status_code == 200
    [provider] = response.json()["providers"]
    assert provider["id"] == "dev"
    assert provider["source"] == "file"
    assert provider["enabled"] is True
    assert provider["status"]["keys"] == "ok"
    assert provider["status"]["key_count"] >= 1
    assert provider["file_differs"] == []


@pytest.fixture(scope="module")
def second_idp() -> Iterator[DevIdp]:
    """A second real provider (its own keys and issuer): the dev admin disables it."""
    with DevIdp() as idp:
        yield idp


@pytest.fixture
def two_provider_server(
    devidp: DevIdp, second_idp: DevIdp, sqlite_url: str
) -> Iterator[LiveServer]:
    providers = [dev_provider(devidp.issuer), dev_provider(second_idp.issuer, id="ops")]
    settings = make_settings(
        database_url=sqlite_url, providers=providers, admin={**ADMIN_GROUPS, "sync_seconds": 0.2}
    )
    with LiveServer(settings) as live:
        yield live


async def test_disabling_a_provider_ends_its_sockets_and_refuses_its_tokens(
    two_provider_server: LiveServer, accounts: Accounts, second_idp: DevIdp
) -> None:
    url = two_provider_server.url
    ops = sign_in(second_idp.issuer, "alice", "alice-password")
    ops_auth = {"access_token": ops.access_token, "id_token": ops.id_token}
    alice = EventClient()
    await alice.connect(url, ops_auth)
    bob = EventClient()
    await bob.connect(url, accounts.auth("bob"))  # of the dev provider: untouched
    async with httpx.AsyncClient(base_url=url) as http:
        patch = await http.patch(
            PREFIX + "/providers/ops", json={"enabled": False}, headers=headers(accounts, "dana")
        )
        assert patch.status_code == 200, patch.text
        assert patch.json()["provider"]["enabled"] is False
        assert await alice.wait_event("session_ended") == {"reason": "provider_disabled"}
        await asyncio.wait_for(alice.disconnected.wait(), 5)
        assert (await refusal(url, ops_auth))["code"] == "provider_disabled"
        assert [p["id"] for p in (await http.get("/config")).json()["providers"]] == ["dev"]
        assert (await bob.call("list_rooms"))["ok"] is True
    await bob.close()


def test_an_admin_cannot_disable_or_delete_the_provider_they_signed_in_with(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    url = admin_server.url + PREFIX + "/providers/dev"
    dana = headers(accounts, "dana")
    for response in (
        httpx.patch(url, json={"enabled": False}, headers=dana),
        httpx.delete(url, headers=dana),
    ):
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "would_lock_out"
    assert httpx.get(url, headers=dana).json()["provider"]["enabled"] is True


def test_admission_rules_never_lock_the_admins_out_of_the_admin_api(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    url = admin_server.url + PREFIX + "/providers/dev"
    dana = headers(accounts, "dana")
    rules = {"admission": {"required_groups": ["nobody-is-in-this-group"]}}
    assert httpx.patch(url, json=rules, headers=dana).status_code == 200
    assert httpx.get(url, headers=dana).status_code == 200
    undo = httpx.patch(url, json={"admission": {"required_groups": []}}, headers=dana)
    assert undo.json()["provider"]["admission"]["required_groups"] == []


def test_a_change_is_in_the_audit_trail_and_the_chain_verifies(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    dana = headers(accounts, "dana")
    url = admin_server.url + PREFIX
    changed = httpx.patch(
        url + "/providers/dev", json={"display": {"label": "Dev SSO"}}, headers=dana
    )
    assert changed.status_code == 200, changed.text
    entries = httpx.get(url + "/audit", headers=dana).json()["entries"]
    [entry] = [e for e in entries if e["action"] == "provider.update"]
    assert entry["actor"]["name"] == "Dana Diaz"
    assert entry["details"]["after"]["display"]["label"] == "Dev SSO"
    assert entry["details"]["before"]["display"]["label"] == ""
    head = httpx.get(url + "/audit/head", headers=dana).json()["head"]
    report = httpx.get(
        url + "/audit/verify", params={"head": f"{head['id']}:{head['hash']}"}, headers=dana
    )
    assert report.json()["report"]["ok"] is True


def test_a_bad_patch_names_the_field_and_changes_nothing(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    dana = headers(accounts, "dana")
    url = admin_server.url + PREFIX + "/providers/dev"
    response = httpx.patch(url, json={"algorithms": ["HS256"]}, headers=dana)
    assert response.status_code == 400
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert [f["field"] for f in error["fields"]] == ["algorithms"]
    assert httpx.get(url, headers=dana).json()["provider"]["version"] == 1


async def test_a_refresh_the_admission_rules_now_refuse_ends_the_session(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    alice = EventClient()
    await alice.connect(admin_server.url, accounts.auth("alice"))
    rules = {"admission": {"required_claims": {"email": "someone-else@example.test"}}}
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        changed = await http.patch(
            PREFIX + "/providers/dev", json=rules, headers=headers(accounts, "dana")
        )
        assert changed.status_code == 200
    assert (await alice.call("list_rooms"))["ok"] is True  # a claim rule waits for the refresh
    tokens = accounts.tokens("alice")
    # The session ends before the ack could be sent: the refusal arrives as session_ended.
    await alice.sio.emit(
        "refresh_token", {"access_token": tokens.access_token, "id_token": tokens.id_token}
    )
    assert await alice.wait_event("session_ended") == {"reason": "access_denied"}
    await asyncio.wait_for(alice.disconnected.wait(), 5)


def test_the_audit_chain_reports_a_row_edited_in_the_database(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    dana = headers(accounts, "dana")
    url = admin_server.url + PREFIX
    for label in ("One", "Two", "Three"):
        patch = {"display": {"label": label}}
        assert httpx.patch(url + "/providers/dev", json=patch, headers=dana).status_code == 200
    entries = httpx.get(url + "/audit", params={"action": "provider.update"}, headers=dana).json()
    second = entries["entries"][1]["id"]
    database = admin_server.settings.database.url.replace("sqlite+aiosqlite:///", "")
    with sqlite3.connect(database) as db:  # someone with database access covers their tracks
        db.execute("UPDATE audit_log SET actor_name = 'Nobody' WHERE id = ?", (second,))
    report = httpx.get(url + "/audit/verify", headers=dana).json()["report"]
    assert report["ok"] is False
    assert report["first_bad_id"] == second
    assert report["problem"] == "altered"


async def test_a_providers_status_counts_its_connects_and_live_sessions(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    alice = EventClient()
    await alice.connect(admin_server.url, accounts.auth("alice"))
    refused = dict(
        accounts.auth("bob"), access_token=accounts.tokens("bob").access_token[:-4] + "AAAA"
    )
    assert (await refusal(admin_server.url, refused))["code"] == "invalid_token"
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        response = await http.get(PREFIX + "/providers/dev", headers=headers(accounts, "dana"))
    status = response.json()["provider"]["status"]
    assert status["connects_last_hour"] == {"ok": 1, "invalid_token": 1}
    assert status["live_sessions"] == 1
    await alice.close()


def test_the_audit_trail_filters_by_action_actor_and_time(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    dana = headers(accounts, "dana")
    url = admin_server.url + PREFIX
    before = httpx.get(url + "/audit/head", headers=dana).json()["head"]
    assert before == {"id": 0, "hash": None}
    httpx.patch(url + "/providers/dev", json={"display": {"order": 3}}, headers=dana)
    httpx.post(url + "/rooms", json={"slug": "x", "name": "X"}, headers=dana)
    everything = httpx.get(url + "/audit", headers=dana).json()["entries"]
    assert [e["action"] for e in everything] == ["provider.update", "room.create"]
    only = httpx.get(url + "/audit", params={"action": "room.create"}, headers=dana).json()
    assert [e["action"] for e in only["entries"]] == ["room.create"]
    later = httpx.get(url + "/audit", params={"since": "2999-01-01T00:00:00Z"}, headers=dana)
    assert later.json()["entries"] == []
    nobody = httpx.get(url + "/audit", params={"actor": "someone-else"}, headers=dana)
    assert nobody.json()["entries"] == []
    paged = httpx.get(url + "/audit", params={"limit": 1}, headers=dana).json()
    assert paged["next_after"] == everything[0]["id"]
    assert httpx.get(url + "/audit", params={"since": "yesterday"}, headers=dana).status_code == 400


def test_a_non_admins_refusal_is_audited_except_the_am_i_an_admin_question(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    bob = headers(accounts, "bob")
    url = admin_server.url + PREFIX
    assert httpx.get(url + "/me", headers=bob).status_code == 403
    assert httpx.get(url + "/providers", headers=bob).status_code == 403
    entries = httpx.get(url + "/audit", headers=headers(accounts, "dana")).json()["entries"]
    assert [(e["action"], e["target"]) for e in entries] == [("admin.refused", "GET /providers")]
    assert entries[0]["actor"]["name"] == "Bob Brown"
