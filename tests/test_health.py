"""Liveness, readiness and their reasons, on the real server and against real databases."""

import asyncio
from pathlib import Path

import httpx
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from server.health import Health
from server.identity import TokenVerifier
from server.storage import create_engine
from server.storage.migrate import alembic_config
from tests.support.databases import migrated_database
from tests.support.fake_idp import FakeIdP
from tests.support.live import LiveServer, make_settings


def corp(idp: FakeIdP) -> dict[str, str]:
    return {"id": "corp", "issuer": idp.issuer, "client_id": "spa", "audience": "api"}


def test_a_ready_server_says_so_and_is_alive(database_url: str) -> None:
    idp = FakeIdP()
    settings = make_settings(database_url=database_url, providers=[corp(idp)])
    with LiveServer(settings, http_transport=idp.transport()) as live:
        alive = httpx.get(live.url + "/livez")
        ready = httpx.get(live.url + "/readyz")
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "schema": "ok", "providers": "ok"},
    }
    assert ready.headers["cache-control"] == "no-store"


def test_without_a_usable_provider_the_server_is_alive_but_not_ready(tmp_path: Path) -> None:
    idp = FakeIdP()
    idp.down = True
    with migrated_database("sqlite", tmp_path) as url:
        settings = make_settings(database_url=url, providers=[corp(idp)])
        with LiveServer(settings, http_transport=idp.transport()) as live:
            alive = httpx.get(live.url + "/livez")
            ready = httpx.get(live.url + "/readyz")
            idp.down = False  # back: the next use fetches the keys, and readiness follows
            httpx.get(live.url + "/config")
    assert alive.status_code == 200
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "not_ready",
        "checks": {"database": "ok", "schema": "ok", "providers": "none_usable"},
        "reason": "no enabled provider has usable signing keys",
    }


async def test_an_outdated_schema_and_a_lost_database_are_not_ready(
    engine: AsyncEngine, database_url: str
) -> None:
    health = Health(engine, TokenVerifier([]), lambda: "off")
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "-1")
    status, body = await health.readiness()
    assert status == 503
    assert body["checks"]["schema"] == "outdated"
    assert body["reason"] == "the database schema is not the latest: run chat-server migrate"
    gone = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    status, body = await Health(gone, TokenVerifier([]), lambda: "off").readiness()
    await gone.dispose()
    assert status == 503
    assert body["checks"]["database"] == "unavailable"
    assert body["reason"] == "the database does not answer"


async def test_a_draining_process_is_not_ready_first_of_all(engine: AsyncEngine) -> None:
    seen: list[bool] = []
    health = Health(engine, TokenVerifier([]), lambda: "off", seen.append)
    health.draining = True
    status, body = await health.readiness()
    assert status == 503
    assert body["checks"]["process"] == "shutting_down"
    assert body["reason"] == "the process is shutting down"
    assert seen == [True]  # every check reports the database's state (the metric follows it)
