"""Session lifecycle against the real dev provider: its back-channel logout, its key rotation and
its short token lifetimes."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devidp.process import DevIdp
from devidp.signin import Browser, sign_in
from tests.e2e.test_sessions import EventClient
from tests.support.clients import refusal
from tests.support.databases import migrated_database
from tests.support.live import LiveServer, dev_provider, free_port, make_settings

FAST_KEYS = {
    "jwks_min_refresh_interval_seconds": 0,
    "jwks_min_ttl_seconds": 0,
    "jwks_default_ttl_seconds": 1,
    "jwks_max_ttl_seconds": 1,
}
FAST_SESSIONS = {
    "sweep_interval_seconds": 0.1,
    "expiry_warning_seconds": 2,
    "expiry_grace_seconds": 1,
}


def stack(tmp_path: Path, **idp_options: Any) -> Iterator[tuple[LiveServer, DevIdp]]:
    port = free_port()
    logout_uri = f"http://127.0.0.1:{port}/oidc/backchannel-logout/dev"
    with (
        DevIdp(backchannel_logout_uri=logout_uri, test_endpoints=True, **idp_options) as idp,
        migrated_database("sqlite", tmp_path) as url,
    ):
        settings = make_settings(
            database_url=url,
            providers=[dev_provider(idp.issuer, **FAST_KEYS)],
            sessions=FAST_SESSIONS,
        )
        with LiveServer(settings, port=port) as live:
            yield live, idp


@pytest.fixture
def real(tmp_path: Path) -> Iterator[tuple[LiveServer, DevIdp]]:
    yield from stack(tmp_path)


async def connect(url: str, tokens: Any) -> EventClient:
    client = EventClient()
    await client.connect(url, {"access_token": tokens.access_token, "id_token": tokens.id_token})
    return client


async def test_logout_at_the_provider_ends_the_socket_and_the_old_tokens(
    real: tuple[LiveServer, DevIdp],
) -> None:
    server, idp = real
    with Browser(idp.issuer) as browser:
        tokens = await asyncio.to_thread(browser.sign_in, "alice", "alice-password")
        client = await connect(server.url, tokens)
        bystander = await connect(
            server.url, await asyncio.to_thread(sign_in, idp.issuer, "bob", "bob-password")
        )
        try:
            await asyncio.to_thread(browser.end_session, tokens.id_token)
            ended_at = time.monotonic()
            assert await client.wait_event("session_ended", within=1) == {"reason": "logged_out"}
            assert time.monotonic() - ended_at < 1
            await asyncio.wait_for(client.disconnected.wait(), 2)
            assert bystander.events == []
        finally:
            await bystander.close()
    assert (
        await refusal(
            server.url, {"access_token": tokens.access_token, "id_token": tokens.id_token}
        )
    )["code"] == "session_revoked"


async def test_rotated_keys_verify_and_removed_keys_are_refused(
    real: tuple[LiveServer, DevIdp],
) -> None:
    server, idp = real
    before = await asyncio.to_thread(sign_in, idp.issuer, "alice", "alice-password")
    await (await connect(server.url, before)).close()  # the old key works before the rotation
    await asyncio.to_thread(idp.rotate_keys)
    after = await asyncio.to_thread(sign_in, idp.issuer, "bob", "bob-password")
    client = await connect(server.url, after)  # an unknown kid: one JWKS refresh, then it verifies
    await client.close()
    await asyncio.to_thread(idp.drop_old_keys)
    await asyncio.sleep(1.2)  # the key cache's TTL (1 s here) passes
    data = await refusal(
        server.url, {"access_token": before.access_token, "id_token": before.id_token}
    )
    assert data["code"] == "invalid_token"
    client = await connect(server.url, after)
    await client.close()


async def test_short_lived_tokens_end_the_socket_at_expiry(tmp_path: Path) -> None:
    for server, idp in stack(tmp_path, access_token_ttl=3, id_token_ttl=3):
        tokens = await asyncio.to_thread(sign_in, idp.issuer, "alice", "alice-password")
        client = await connect(server.url, tokens)
        assert (await client.wait_event("session_expiring", within=3))["expires_at"] > time.time()
        assert await client.wait_event("session_ended", within=5) == {"reason": "token_expired"}
        await asyncio.wait_for(client.disconnected.wait(), 2)
