"""The async engine: aiosqlite (WAL) for the embedded default, asyncpg for PostgreSQL."""

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

T = TypeVar("T")

# A pooled connection idle at least this long is pinged before use (a restarted or failed-over
# database leaves the pool holding dead ones); one in steady use is not: the ping is a round trip
# on every transaction, and the message writer's commit latency is what a sender waits for.
IDLE_PING_SECONDS = 1.0

logger = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA busy_timeout=5000",
    ):
        cursor.execute(pragma)
    cursor.close()


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout.

    Errors never quote statement parameters (they hold message text, and errors get logged).
    """
    options = {"hide_parameters": True, **options}
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, **options)
    _ping_when_idle(engine.sync_engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's ``pool_pre_ping``, for connections idle ``IDLE_PING_SECONDS`` or more."""

    def checkin(_dbapi: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(
        dbapi: DBAPIConnection, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return  # new, or in steady use
        try:
            alive = engine.dialect.do_ping(dbapi)
        except Exception:  # any failure of a trivial query: this connection is not usable
            alive = False
        if not alive:  # the pool replaces the connection and tries again
            raise DisconnectionError("the pooled connection is gone")

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


async def ping(engine: AsyncEngine) -> bool:
    """True when the database answers a trivial query."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:  # any driver error means "not reachable" for the health check
        logger.warning("database ping failed", exc_info=True)
        return False
    return True


class TransactionRunner:
    """Runs a synchronous function inside one transaction, as cheaply as the driver allows.

    aiosqlite crosses to its thread for every statement; a batch of a few statements then costs
    a thread hop each. On a SQLite file the whole transaction runs instead in ONE hop, on a
    dedicated thread with a plain sqlite3 engine. Other databases use the async engine.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        url = engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            self._sync = create_sync_engine(url.set(drivername="sqlite"), hide_parameters=True)
            event.listen(self._sync, "connect", _sqlite_pragmas)
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

    async def run(self, work: Callable[[Connection], T], *, one_statement: bool = False) -> T:
        """``work(connection)`` in a transaction committed before this returns.

        ``one_statement``: ``work`` runs a single statement, which is a transaction of its own;
        on a server database it then runs without BEGIN and COMMIT (one round trip, not three).
        """
        if self._sync is None or self._thread is None:
            if one_statement:
                async with self._engine.connect() as conn:
                    autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    return await autocommit.run_sync(work)
            async with self._engine.begin() as conn:
                return await conn.run_sync(work)
        sync = self._sync

        def transaction() -> T:
            with sync.begin() as conn:
                return work(conn)

        return await asyncio.get_running_loop().run_in_executor(self._thread, transaction)

    def close(self) -> None:
        """Release the thread and engine without waiting: a stuck statement must not block stop."""
        if self._thread is not None:
            self._thread.shutdown(wait=False, cancel_futures=True)
        if self._sync is not None:
            self._sync.dispose()
