"""Committed changes are announced once committed, never when rolled back."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from server.storage import LogoutRecord, LogoutRepository, UserRepository, on_commit
from server.storage.registry import bump


async def test_a_committed_revision_and_a_stored_logout_are_announced(engine: AsyncEngine) -> None:
    heard: list[frozenset[str]] = []
    on_commit(engine, heard.append)
    async with engine.begin() as conn:
        await bump(conn, "rooms")
        await bump(conn, "users")
    record = LogoutRecord("https://idp.test", "jti-1", "alice", None, 1.0)
    assert await LogoutRepository(engine).record(record) is not None
    assert heard == [frozenset({"rooms", "users"}), frozenset({"logouts"})]


async def test_a_rolled_back_change_and_a_replayed_logout_are_not(engine: AsyncEngine) -> None:
    logouts = LogoutRepository(engine)
    record = LogoutRecord("https://idp.test", "jti-1", "alice", None, 1.0)
    assert await logouts.record(record) is not None
    heard: list[frozenset[str]] = []
    on_commit(engine, heard.append)
    try:
        async with engine.begin() as conn:
            await bump(conn, "rooms")
            raise RuntimeError("the change fails after the bump")
    except RuntimeError:
        pass
    assert await logouts.record(record) is None  # a replay: nothing stored
    async with engine.begin() as conn:  # a later transaction on the same connection
        await conn.execute(text("SELECT 1"))
    assert heard == []
    assert await UserRepository(engine).revision() == 0
