"""The engine's pool on PostgreSQL: a connection that died while idle is replaced unseen; one in
steady use is not pinged before every transaction (a round trip the writer's commits wait for)."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage import database
from server.storage.database import create_engine
from tests.support.databases import migrated_database

pytestmark = pytest.mark.postgres


@pytest.fixture
async def postgres(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    with migrated_database("postgresql", tmp_path) as url:
        engine = create_engine(url, pool_size=1, max_overflow=0)
        yield engine
        await engine.dispose()


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_killed_while_idle_is_replaced_on_its_next_use(
    postgres: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.05)
    first = await backend_pid(postgres)
    other = create_engine(str(postgres.url.render_as_string(hide_password=False)))
    try:
        async with other.connect() as conn:
            killed = await conn.execute(text(f"SELECT pg_terminate_backend({first})"))
            assert killed.scalar_one() is True
    finally:
        await other.dispose()
    await asyncio.sleep(0.1)  # idle past the threshold: the next checkout pings
    second = await backend_pid(postgres)  # no error reaches the caller
    assert second != first


async def test_a_connection_in_steady_use_is_not_pinged_before_each_transaction(
    postgres: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialect = postgres.sync_engine.dialect
    pings: list[object] = []
    real_ping = dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return bool(real_ping(dbapi_connection))

    monkeypatch.setattr(dialect, "do_ping", counted)
    await backend_pid(postgres)  # the pool holds one connection now

    async def three_transactions() -> None:
        for _ in range(3):
            async with postgres.begin() as conn:
                await conn.execute(text("SELECT 1"))

    await three_transactions()
    assert pings == []
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.0)  # every use counts as idle
    await three_transactions()
    assert len(pings) == 3
