"""A provider that is down does not stop the server: it fails closed, the others work, and it
recovers by itself."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clients import connected, refusal
from tests.support.clock import FakeClock
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
        "cluster": "off",
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


MAX_STALE = 100  # seconds past the keys' TTL (max-age=300) that cached keys may still serve
WINDOW_END = 300 + MAX_STALE


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def flaky(clock: FakeClock) -> FakeIdP:
    return FakeIdP("https://flaky.test", now=clock.now)


@pytest.fixture
def stale_server(flaky: FakeIdP, clock: FakeClock, tmp_path: Path) -> Iterator[LiveServer]:
    table = {
        "id": "flaky",
        "issuer": flaky.issuer,
        "client_id": flaky.client_id,
        "audience": flaky.audience,
        "jwks_max_stale_seconds": MAX_STALE,
    }  # jwks_min_refresh_interval_seconds stays at its default, 30 s
    with migrated_database("sqlite", tmp_path) as url:
        settings = make_settings(database_url=url, providers=[table])
        with LiveServer(settings, clock=clock, http_transport=flaky.transport()) as live:
            yield live  # its start-up loaded the keys: their TTL ends at second 300


async def _flaky_state(server: LiveServer) -> str:
    async with httpx.AsyncClient() as http:
        state: str = (await http.get(server.url + "/healthz")).json()["providers"]["flaky"]
    return state


async def test_connects_past_max_staleness_are_refused_every_time_and_healthz_agrees(
    stale_server: LiveServer, flaky: FakeIdP, clock: FakeClock
) -> None:
    flaky.down = True
    elapsed = 0
    # A connect every 6 s: through the stale window, then 60 s (two retry intervals) past it.
    for second in [*range(6, WINDOW_END, 6), *range(WINDOW_END, WINDOW_END + 60, 6)]:
        clock.advance(second - elapsed)
        elapsed = second
        if second < WINDOW_END:
            client = await connected(stale_server.url, flaky.tokens())
            await client.close()
            assert await _flaky_state(stale_server) == "ok", second
        else:
            refused = await refusal(stale_server.url, flaky.tokens())
            assert refused == {"code": "idp_unavailable", "retryable": True}, second
            assert await _flaky_state(stale_server) == "unavailable", second
    flaky.down = False  # the provider answers again: the next connect loads fresh keys
    client = await connected(stale_server.url, flaky.tokens())
    await client.close()
    assert await _flaky_state(stale_server) == "ok"
