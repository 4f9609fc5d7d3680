"""Providers changed at runtime through the admin API, against a real server and two real
identity providers: create, enable, delete, admission and display, each in the audit trail."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from devidp.process import DevIdp
from server.admin import PREFIX
from tests.e2e.conftest import Accounts
from tests.e2e.test_admin_api import ADMIN_GROUPS, headers
from tests.e2e.test_sessions import EventClient
from tests.support.clients import refusal
from tests.support.live import LiveServer, dev_provider, make_settings

DANA = "Dana Diaz"


@pytest.fixture(scope="module")
def second_idp() -> Iterator[DevIdp]:
    """Another dev provider: another issuer, with keys of its own (generated at start)."""
    with DevIdp() as idp:
        yield idp


@pytest.fixture(scope="module")
def second_accounts(second_idp: DevIdp) -> Accounts:
    return Accounts(second_idp.issuer)


def second_provider(issuer: str, **overrides: Any) -> dict[str, Any]:
    """The POST body that adds the second dev provider as ``second``."""
    return {
        "id": "second",
        "issuer": issuer,
        "client_id": "chat-spa",
        "audience": "urn:sso-chat:api",
        "required_scopes": ["chat:write"],
        "scopes": "openid profile email groups chat:read chat:write",
        **overrides,
    }


class AdminClient:
    """The admin API as dana, over one async HTTP client (sockets keep receiving meanwhile)."""

    def __init__(self, url: str, auth: dict[str, str]) -> None:
        self.http = httpx.AsyncClient(base_url=url + PREFIX, headers=auth, timeout=10)

    async def __aenter__(self) -> "AdminClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(path)

    async def post(self, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post("/providers", json=body)

    async def patch(
        self, provider_id: str, body: dict[str, Any], version: int | None = None
    ) -> httpx.Response:
        extra = {"If-Match": f'"{version}"'} if version is not None else {}
        return await self.http.patch(f"/providers/{provider_id}", json=body, headers=extra)

    async def delete(self, provider_id: str) -> httpx.Response:
        return await self.http.delete(f"/providers/{provider_id}")

    async def add_enabled(self, body: dict[str, Any]) -> None:
        assert (await self.post(body)).status_code == 201
        assert (await self.patch(body["id"], {"enabled": True})).status_code == 200


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["code"])


async def assert_audited(admin: AdminClient, expected: list[tuple[str, str]]) -> None:
    """The provider changes in the audit trail are ``expected`` (action, target), all by dana,
    and the chain verifies up to its current head."""
    entries = (await admin.get("/audit")).json()["entries"]
    changes = [e for e in entries if e["action"].startswith("provider.")]
    assert [(e["action"], e["target"]) for e in changes] == expected
    assert {e["actor"]["name"] for e in changes} == {DANA}
    head = (await admin.get("/audit/head")).json()["head"]
    report = await admin.http.get("/audit/verify", params={"head": f"{head['id']}:{head['hash']}"})
    assert report.json()["report"]["ok"] is True


async def config_ids(url: str) -> list[str]:
    async with httpx.AsyncClient() as http:
        return [p["id"] for p in (await http.get(url + "/config")).json()["providers"]]


async def connects(url: str, auth: dict[str, str]) -> None:
    client = EventClient()
    await client.connect(url, auth)
    await client.close()


@pytest.fixture
def admin_server(devidp: DevIdp, sqlite_url: str) -> Iterator[LiveServer]:
    """The dev provider alone, from the file."""
    settings = make_settings(
        database_url=sqlite_url,
        providers=[dev_provider(devidp.issuer)],
        admin={**ADMIN_GROUPS, "sync_seconds": 0.2},
    )
    with LiveServer(settings) as live:
        yield live


@pytest.fixture
async def admin(admin_server: LiveServer, accounts: Accounts) -> AsyncIterator[AdminClient]:
    async with AdminClient(admin_server.url, headers(accounts, "dana")) as client:
        yield client


@pytest.fixture
def two_provider_server(
    devidp: DevIdp, second_idp: DevIdp, sqlite_url: str
) -> Iterator[LiveServer]:
    """dev and backup, both from the file; the admin signs in through backup, so admission
    rules on dev never lock the admin out."""
    settings = make_settings(
        database_url=sqlite_url,
        providers=[dev_provider(devidp.issuer), dev_provider(second_idp.issuer, id="backup")],
        admin={**ADMIN_GROUPS, "sync_seconds": 0.2},
    )
    with LiveServer(settings) as live:
        yield live


@pytest.fixture
async def backup_admin(
    two_provider_server: LiveServer, second_accounts: Accounts
) -> AsyncIterator[AdminClient]:
    async with AdminClient(two_provider_server.url, headers(second_accounts, "dana")) as client:
        yield client


# -- a provider added at runtime -------------------------------------------------------------


async def test_a_provider_added_at_runtime_starts_disabled_and_serves_once_enabled(
    admin_server: LiveServer, admin: AdminClient, second_idp: DevIdp, second_accounts: Accounts
) -> None:
    body = second_provider(second_idp.issuer)
    assert error_code(await admin.post({**body, "enabled": True}), 400) == "invalid_request"
    assert error_code(await admin.get("/providers/second"), 404) == "not_found"

    created = await admin.post(body)
    assert created.status_code == 201, created.text
    assert created.json()["provider"]["enabled"] is False
    assert created.json()["provider"]["source"] == "api"
    auth = second_accounts.auth("alice")
    assert (await refusal(admin_server.url, auth))["code"] == "provider_disabled"
    assert await config_ids(admin_server.url) == ["dev"]

    enabled = await admin.patch("second", {"enabled": True})
    assert enabled.status_code == 200, enabled.text
    alice = EventClient()
    await alice.connect(admin_server.url, auth)
    try:
        assert (await alice.call("join", {"room": "general"}))["ok"]
        assert (await alice.call("send_message", {"room": "general", "text": "hi"}))["ok"]
    finally:
        await alice.close()
    assert sorted(await config_ids(admin_server.url)) == ["dev", "second"]
    await assert_audited(
        admin, [("provider.create", "provider:second"), ("provider.update", "provider:second")]
    )


async def test_groups_from_a_provider_added_at_runtime_make_no_admin(
    admin_server: LiveServer, admin: AdminClient, second_idp: DevIdp, second_accounts: Accounts
) -> None:
    assert (await admin.post(second_provider(second_idp.issuer))).status_code == 201
    assert (await admin.patch("second", {"enabled": True})).status_code == 200
    # The second provider's dana is in chat-admins too, but [admin] group_providers (default:
    # the file's providers) does not trust that provider's groups.
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        me = await http.get(PREFIX + "/me", headers=headers(second_accounts, "dana"))
    assert me.status_code == 403
    assert me.json()["error"]["code"] == "forbidden"


async def test_a_provider_whose_id_exists_is_a_conflict(
    admin: AdminClient, second_idp: DevIdp
) -> None:
    response = await admin.post(second_provider(second_idp.issuer, id="dev"))
    assert error_code(response, 409) == "conflict"
    assert [p["source"] for p in (await admin.get("/providers")).json()["providers"]] == ["file"]


async def test_a_provider_with_another_providers_issuer_is_refused(
    admin: AdminClient, devidp: DevIdp
) -> None:
    response = await admin.post(second_provider(devidp.issuer))
    assert error_code(response, 400) == "invalid_request"
    assert error_code(await admin.get("/providers/second"), 404) == "not_found"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"algorithms": ["none"]}, "algorithms"),
        ({"algorithms": ["HS256"]}, "algorithms"),
        ({"issuer": "http://idp.example.test"}, "issuer"),
        ({"id": "Not A Slug"}, "id"),
        ({"leeway_seconds": 3600}, "leeway_seconds"),
        ({"surprise": True}, "surprise"),
    ],
    ids=["alg-none", "alg-hmac", "http-issuer", "bad-id", "leeway", "unknown-key"],
)
async def test_a_provider_with_a_bad_field_is_refused_naming_it(
    admin: AdminClient, second_idp: DevIdp, change: dict[str, Any], field: str
) -> None:
    response = await admin.post({**second_provider(second_idp.issuer), **change})
    assert error_code(response, 400) == "invalid_request"
    assert [f["field"] for f in response.json()["error"]["fields"]] == [field]
    assert len((await admin.get("/providers")).json()["providers"]) == 1


# -- patch: versions, unknown ids, the id itself ---------------------------------------------


async def test_a_patch_with_a_stale_version_is_a_conflict_and_changes_nothing(
    admin: AdminClient,
) -> None:
    first = await admin.patch("dev", {"display": {"label": "First"}}, version=1)
    assert first.status_code == 200, first.text
    assert first.json()["provider"]["version"] == 2
    stale = await admin.patch("dev", {"display": {"label": "Second"}}, version=1)
    assert error_code(stale, 409) == "conflict"
    provider = (await admin.get("/providers/dev")).json()["provider"]
    assert (provider["version"], provider["display"]["label"]) == (2, "First")
    await assert_audited(admin, [("provider.update", "provider:dev")])


async def test_a_patch_of_an_unknown_provider_is_not_found(admin: AdminClient) -> None:
    assert error_code(await admin.patch("nobody", {"name": "x"}), 404) == "not_found"


async def test_a_patch_cannot_change_the_id(admin: AdminClient) -> None:
    assert error_code(await admin.patch("dev", {"id": "renamed"}), 400) == "invalid_request"
    assert error_code(await admin.get("/providers/renamed"), 404) == "not_found"
    assert (await admin.get("/providers/dev")).json()["provider"]["version"] == 1


# -- delete ----------------------------------------------------------------------------------


async def test_a_provider_from_the_file_cannot_be_deleted(backup_admin: AdminClient) -> None:
    assert error_code(await backup_admin.delete("dev"), 409) == "provider_in_file"
    assert (await backup_admin.get("/providers/dev")).json()["provider"]["enabled"] is True


async def test_deleting_a_runtime_provider_ends_its_sockets_and_forgets_its_issuer(
    admin_server: LiveServer, admin: AdminClient, second_idp: DevIdp, second_accounts: Accounts
) -> None:
    await admin.add_enabled(second_provider(second_idp.issuer))
    auth = second_accounts.auth("bob")
    bob = EventClient()
    await bob.connect(admin_server.url, auth)
    deleted = await admin.delete("second")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"deleted": True, "ended_sessions": 1}
    assert await bob.wait_event("session_ended") == {"reason": "provider_disabled"}
    await asyncio.wait_for(bob.disconnected.wait(), 5)
    assert (await refusal(admin_server.url, auth))["code"] == "unknown_issuer"
    assert error_code(await admin.get("/providers/second"), 404) == "not_found"
    await assert_audited(
        admin,
        [
            ("provider.create", "provider:second"),
            ("provider.update", "provider:second"),
            ("provider.delete", "provider:second"),
        ],
    )


# -- admission at connect ----------------------------------------------------------------------


async def test_required_groups_admit_members_and_end_the_sockets_of_others(
    two_provider_server: LiveServer, backup_admin: AdminClient, accounts: Accounts
) -> None:
    url = two_provider_server.url
    bob = EventClient()
    await bob.connect(url, accounts.auth("bob"))
    alice_auth = accounts.auth("alice")
    changed = await backup_admin.patch("dev", {"admission": {"required_groups": ["engineering"]}})
    assert changed.status_code == 200, changed.text
    assert await bob.wait_event("session_ended") == {"reason": "access_denied"}
    await asyncio.wait_for(bob.disconnected.wait(), 5)
    await connects(url, alice_auth)
    assert (await refusal(url, accounts.auth("bob")))["code"] == "access_denied"
    await assert_audited(backup_admin, [("provider.update", "provider:dev")])


@pytest.mark.parametrize(
    ("admission", "admitted"),
    [
        ({"allowed_email_domains": ["example.test"]}, {"alice", "bob", "carol"}),
        ({"allowed_email_domains": ["other.test"]}, set()),
        ({"required_claims": {"email": "alice@example.test"}}, {"alice"}),
    ],
)
async def test_admission_rules_decide_who_connects(
    two_provider_server: LiveServer,
    backup_admin: AdminClient,
    accounts: Accounts,
    admission: dict[str, Any],
    admitted: set[str],
) -> None:
    auths = {user: accounts.auth(user) for user in ("alice", "bob", "carol")}
    changed = await backup_admin.patch("dev", {"admission": admission})
    assert changed.status_code == 200, changed.text
    for user, auth in auths.items():
        if user in admitted:
            await connects(two_provider_server.url, auth)
        else:
            assert (await refusal(two_provider_server.url, auth))["code"] == "access_denied", user
    await assert_audited(backup_admin, [("provider.update", "provider:dev")])


# -- display -----------------------------------------------------------------------------------


async def test_a_hidden_provider_is_not_listed_but_its_tokens_connect(
    admin_server: LiveServer, admin: AdminClient, accounts: Accounts
) -> None:
    changed = await admin.patch("dev", {"display": {"hidden": True}})
    assert changed.status_code == 200, changed.text
    assert await config_ids(admin_server.url) == []
    await connects(admin_server.url, accounts.auth("alice"))
    await assert_audited(admin, [("provider.update", "provider:dev")])


async def test_display_order_orders_the_sign_in_list(
    two_provider_server: LiveServer, backup_admin: AdminClient
) -> None:
    url = two_provider_server.url
    for provider_id, order in (("dev", 2), ("backup", 1)):
        response = await backup_admin.patch(provider_id, {"display": {"order": order}})
        assert response.status_code == 200, response.text
    assert await config_ids(url) == ["backup", "dev"]
    assert (await backup_admin.patch("dev", {"display": {"order": -1}})).status_code == 200
    assert await config_ids(url) == ["dev", "backup"]
    await assert_audited(
        backup_admin,
        [
            ("provider.update", "provider:dev"),
            ("provider.update", "provider:backup"),
            ("provider.update", "provider:dev"),
        ],
    )
