"""Fresh, migrated databases for tests: a SQLite file, or a new database on the local PostgreSQL."""

import asyncio
import os
import threading
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from server.storage import upgrade

POSTGRES_ADMIN_DSN = os.environ.get(
    "CHAT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in a thread (safe inside a running loop)."""
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new empty database on the local PostgreSQL, dropped afterwards; yields its async URL."""
    name = f"chat_test_{uuid.uuid4().hex[:12]}"
    run_sync(_admin(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].split("://", 1)[1]
    try:
        yield f"postgresql+asyncpg://{base}/{name}"
    finally:
        run_sync(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def migrated_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A database of ``kind`` ("sqlite" or "postgresql") at the latest migration."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
        run_sync(asyncio.to_thread(upgrade, url))
        yield url
        return
    with postgres_database() as url:
        run_sync(asyncio.to_thread(upgrade, url))
        yield url
