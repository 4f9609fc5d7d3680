"""Two real server processes on one database: a provider change made through the admin API of
one process reaches the live sockets and the connects of the other within one sync interval."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio.exceptions

from devidp.process import DevIdp
from server.admin import PREFIX
from tests.e2e.conftest import Accounts
from tests.e2e.test_admin_api import headers
from tests.e2e.test_logout_cluster import ServerProcess
from tests.e2e.test_sessions import EventClient
from tests.support.clients import refusal
from tests.support.live import dev_provider, free_port
from tests.support.toml import toml_table

SYNC_SECONDS = 0.5
WITHIN_SECONDS = 2.0  # the brief's bound: one sync, the emit and the close, on a busy machine


def config_text(port: int, database_url: str, issuers: dict[str, str]) -> str:
    """A ``chat-server --config`` file for one process; ``issuers``: provider id -> issuer."""
    server: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "log_level": "warning",
        "allowed_origins": ["http://127.0.0.1:8000"],
    }
    admin = {"groups": ["chat-admins"], "sync_seconds": SYNC_SECONDS}
    sessions = {"presence_seconds": SYNC_SECONDS, "revocation_sync_seconds": SYNC_SECONDS}
    providers = [
        toml_table("[[providers]]", dev_provider(issuer, id=provider_id))
        for provider_id, issuer in issuers.items()
    ]
    return "\n".join(
        [
            toml_table("[server]", server),
            toml_table("[admin]", admin),
            toml_table("[sessions]", sessions),
            toml_table("[database]", {"url": database_url}),
            toml_table("[metrics]", {"port": 0}),
            *providers,
            toml_table("[[rooms]]", {"slug": "general", "name": "General"}),
        ]
    )


@dataclass(frozen=True)
class Cluster:
    a: ServerProcess  # the admin changes providers here
    b: ServerProcess  # the users are connected here


@pytest.fixture(scope="module")
def backup_idp() -> Iterator[DevIdp]:
    """A second provider for the admin, so that changing dev never locks the admin out."""
    with DevIdp() as idp:
        yield idp


@pytest.fixture(scope="module")
def backup_accounts(backup_idp: DevIdp) -> Accounts:
    return Accounts(backup_idp.issuer)


@pytest.fixture
def cluster(
    database_url: str, tmp_path: Path, devidp: DevIdp, backup_idp: DevIdp
) -> Iterator[Cluster]:
    issuers = {"dev": devidp.issuer, "backup": backup_idp.issuer}
    processes = []
    for name in ("a", "b"):
        port = free_port()
        path = tmp_path / f"{name}.toml"
        path.write_text(config_text(port, database_url, issuers))
        processes.append(ServerProcess(path, port))
    with processes[0] as a, processes[1] as b:
        yield Cluster(a, b)


@pytest.fixture
async def admin_on_a(
    cluster: Cluster, backup_accounts: Accounts
) -> AsyncIterator[httpx.AsyncClient]:
    auth = headers(backup_accounts, "dana")
    async with httpx.AsyncClient(base_url=cluster.a.url + PREFIX, headers=auth, timeout=10) as http:
        yield http


async def patch_dev(admin: httpx.AsyncClient, body: dict[str, Any]) -> float:
    """PATCH the dev provider; returns when the request was sent (monotonic time)."""
    sent_at = time.monotonic()
    response = await admin.patch("/providers/dev", json=body)
    assert response.status_code == 200, response.text
    return sent_at


async def connect_within(url: str, auth: dict[str, str], seconds: float) -> float:
    """Connect (retrying refusals) until ``seconds`` have passed; returns the time it took."""
    started = time.monotonic()
    while True:
        client = EventClient()
        try:
            await client.connect(url, auth)
        except socketio.exceptions.ConnectionError:
            if time.monotonic() - started > seconds:
                raise AssertionError(f"refused after {seconds} s: {client.connect_error}") from None
            await asyncio.sleep(0.05)
            continue
        await client.close()
        return time.monotonic() - started


async def test_disabling_a_provider_on_one_process_ends_its_sockets_on_the_other(
    cluster: Cluster, admin_on_a: httpx.AsyncClient, accounts: Accounts
) -> None:
    alice_auth, bob_auth = accounts.auth("alice"), accounts.auth("bob")
    alice = EventClient()
    await alice.connect(cluster.b.url, alice_auth)
    disabled_at = await patch_dev(admin_on_a, {"enabled": False})
    ended = await alice.wait_event("session_ended", within=WITHIN_SECONDS)
    assert ended == {"reason": "provider_disabled"}
    assert time.monotonic() - disabled_at < WITHIN_SECONDS
    await asyncio.wait_for(alice.disconnected.wait(), 5)
    assert (await refusal(cluster.b.url, bob_auth))["code"] == "provider_disabled"

    await patch_dev(admin_on_a, {"enabled": True})
    assert await connect_within(cluster.b.url, bob_auth, WITHIN_SECONDS) < WITHIN_SECONDS


async def test_an_admission_change_on_one_process_applies_on_the_other(
    cluster: Cluster, admin_on_a: httpx.AsyncClient, accounts: Accounts
) -> None:
    alice_auth, bob_auth = accounts.auth("alice"), accounts.auth("bob")
    bob = EventClient()
    await bob.connect(cluster.b.url, bob_auth)
    changed_at = await patch_dev(admin_on_a, {"admission": {"required_groups": ["engineering"]}})
    ended = await bob.wait_event("session_ended", within=WITHIN_SECONDS)
    assert ended == {"reason": "access_denied"}
    assert time.monotonic() - changed_at < WITHIN_SECONDS
    await asyncio.wait_for(bob.disconnected.wait(), 5)
    assert (await refusal(cluster.b.url, bob_auth))["code"] == "access_denied"
    alice = EventClient()
    await alice.connect(cluster.b.url, alice_auth)
    await alice.close()


async def find_user_on(admin: httpx.AsyncClient, name: str, seconds: float) -> dict[str, Any]:
    """The user as process A lists them, once process B has written their sign-in."""
    deadline = time.monotonic() + seconds
    while True:
        users = (await admin.get("/users", params={"q": name})).json()["users"]
        if users:
            return dict(users[0])
        assert time.monotonic() < deadline, f"{name} not listed within {seconds} s"
        await asyncio.sleep(0.1)


async def test_a_user_connected_to_one_process_is_counted_and_blocked_from_the_other(
    cluster: Cluster, admin_on_a: httpx.AsyncClient, accounts: Accounts
) -> None:
    alice = EventClient()
    await alice.connect(cluster.b.url, accounts.auth("alice"))
    user = await find_user_on(admin_on_a, "alice anderson", WITHIN_SECONDS)
    deadline = time.monotonic() + WITHIN_SECONDS
    while True:
        detail = (await admin_on_a.get(f"/users/{user['id']}")).json()["user"]
        if detail["live_sessions"]["total"] == 1:
            break
        assert time.monotonic() < deadline, detail
        await asyncio.sleep(0.1)
    assert detail["live_sessions"] == {"total": 1, "processes": 1, "here": 0}
    blocked_at = time.monotonic()
    assert (await admin_on_a.post(f"/users/{user['id']}/block")).status_code == 200
    assert await alice.wait_event("session_ended", within=WITHIN_SECONDS) == {"reason": "blocked"}
    assert time.monotonic() - blocked_at < WITHIN_SECONDS
    assert (await refusal(cluster.b.url, accounts.auth("alice")))["code"] == "account_blocked"


async def test_ending_a_users_sessions_on_one_process_ends_them_on_the_other(
    cluster: Cluster, admin_on_a: httpx.AsyncClient, accounts: Accounts
) -> None:
    bob = EventClient()
    await bob.connect(cluster.b.url, accounts.auth("bob"))
    user = await find_user_on(admin_on_a, "bob brown", WITHIN_SECONDS)
    ended = await admin_on_a.post(f"/users/{user['id']}/end-sessions")
    assert ended.json()["ended_sessions"] == 0  # none on A itself
    assert await bob.wait_event("session_ended", within=WITHIN_SECONDS) == {"reason": "logged_out"}


async def test_a_room_restricted_on_one_process_revokes_members_on_the_other(
    cluster: Cluster, admin_on_a: httpx.AsyncClient, accounts: Accounts
) -> None:
    bob = EventClient()
    await bob.connect(cluster.b.url, accounts.auth("bob"))
    assert (await bob.call("join", {"room": "general"}))["ok"] is True
    changed = await admin_on_a.patch("/rooms/general", json={"allowed_groups": ["engineering"]})
    assert changed.status_code == 200
    revoked = await bob.wait_event("room_access_revoked", within=WITHIN_SECONDS)
    assert revoked == {"room": "general"}
