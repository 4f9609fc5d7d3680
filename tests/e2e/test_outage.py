"""A provider that is down does not stop the server: it fails closed, the others work, and it
recovers by itself."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clients import connected, refusal
from tests.support.databases import migrated_database
from tests.support.fake_idp import FakeIdP
from tests.support.live import LiveServer, make_settings


@pytest.fixture
def providers() -> tuple[FakeIdP, FakeIdP]:
    return FakeIdP("https://up.test"), FakeIdP("https://down.test")


@pytest.fixture
def server(providers: tuple[FakeIdP, FakeIdP], tmp_path: Path) -> Iterator[LiveServer]:
    up, down = providers
    down.down = True
    routes = {"up.test": up, "down.test": down}
    transport = httpx.MockTransport(lambda request: routes[request.url.host].handle(request))
    tables: list[dict[str, Any]] = [
        {"id": "up", "issuer": up.issuer, "client_id": up.client_id, "audience": up.audience},
        {
            "id": "down",
            "issuer": down.issuer,
            "client_id": down.client_id,
            "audience": down.audience,
            "jwks_min_refresh_interval_seconds": 0,
        },
    ]
    with migrated_database("sqlite", tmp_path) as url:
        with LiveServer(
            make_settings(database_url=url, providers=tables), http_transport=transport
        ) as live:
            yield live


async def test_start_up_with_a_provider_down(
    server: LiveServer, providers: tuple[FakeIdP, FakeIdP]
) -> None:
    up, down = providers
    async with httpx.AsyncClient() as http:
        health = (await http.get(server.url + "/healthz")).json()
    assert health == {
        "status": "degraded",
        "database": "ok",
        "providers": {"up": "ok", "down": "unavailable"},
    }
    assert await refusal(server.url, down.tokens()) == {
        "code": "idp_unavailable",
        "retryable": True,
    }
    client = await connected(server.url, up.tokens())  # the other provider is unaffected
    await client.close()
    down.down = False  # recovery needs no restart
    client = await connected(server.url, down.tokens())
    await client.close()
    async with httpx.AsyncClient() as http:
        assert (await http.get(server.url + "/healthz")).json()["status"] == "ok"
