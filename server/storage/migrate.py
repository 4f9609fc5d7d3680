"""Alembic, driven from code: ``chat-server migrate`` and the start-up schema check."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from server.errors import ConfigError

# Shipped inside the package (package data), so an installed `chat-server` finds them from any
# working directory; no alembic.ini is read.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """Alembic's settings for ``url``, built in code: the scripts come from the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``. Runs its own event loop: call from sync code."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def check_schema(engine: AsyncEngine) -> None:
    """Refuse to serve a database that is not at the latest migration.

    Raises:
        ConfigError: with the command that fixes it.
    """

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        revision = await connection.run_sync(current)
    head = await asyncio.to_thread(head_revision)
    if revision != head:
        raise ConfigError(
            f"database schema is at {revision or 'nothing'}, expected {head}: run `chat-server migrate`"
        )
