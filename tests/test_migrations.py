"""Alembic is the only way the schema is made: head matches the models, and up/down round-trips."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from server.errors import ConfigError
from server.storage import check_schema, create_engine
from server.storage.migrate import MIGRATIONS_DIR, alembic_config, head_revision
from server.storage.models import metadata
from tests.support.databases import postgres_database, run_sync

ROOT = Path(__file__).resolve().parents[1]


def drift(url: str) -> list[Any]:
    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async def run() -> list[Any]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return run_sync(run())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    with postgres_database() as url:
        yield url


def test_upgrade_head_on_an_empty_database_matches_the_models(empty_database: str) -> None:
    command.upgrade(alembic_config(empty_database), "head")
    assert drift(empty_database) == []


def test_downgrade_to_base_and_back_up(empty_database: str) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    assert drift(empty_database) == []


def test_server_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    async def check() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
        try:
            await check_schema(engine)
        finally:
            await engine.dispose()

    with pytest.raises(ConfigError, match="chat-server migrate"):
        asyncio.run(check())


def test_the_migrations_live_in_the_package_and_alembic_ini_points_there() -> None:
    assert MIGRATIONS_DIR.parent == ROOT / "server" / "storage"
    developers = Config(str(ROOT / "alembic.ini"))  # `alembic` run from the repository root
    script = ScriptDirectory.from_config(developers)
    assert Path(script.dir).resolve() == MIGRATIONS_DIR
    assert script.get_current_head() == head_revision()
