"""A real ChatService on the migrated test database, and the identities and rooms it is tried with."""

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from server.chat import ChatService
from server.config import RoomConfig
from server.identity import Identity
from server.storage import create_engine
from server.storage.repository import MESSAGES, USERS
from tests.support.chat import make_chat

ISSUER = "https://idp.test"
MAX_CHARS = 20
ROOMS = (
    RoomConfig(slug="general", name="General"),
    RoomConfig(slug="staff", name="Staff", allowed_groups=("staff", "admins")),
    RoomConfig(slug="ops", name="Ops", allowed_groups=("ops",)),
)


def identity(
    sub: str = "alice",
    groups: tuple[str, ...] = (),
    *,
    issuer: str = ISSUER,
    session_id: str | None = "sess-1",
    name: str | None = None,
) -> Identity:
    now = time.time()
    return Identity(
        provider_id="p",
        issuer=issuer,
        subject=sub,
        name=name or sub.title(),
        groups=frozenset(groups),
        scopes=frozenset({"chat:read", "chat:write"}),
        session_id=session_id,
        expires_at=now + 300,
        issued_at=now,
    )


async def stored_rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every message row, read back on a fresh connection (so only committed rows), in id order."""
    async with engine.connect() as conn:
        result = await conn.execute(select(MESSAGES).order_by(MESSAGES.c.id))
        return [dict(row._mapping) for row in result]


async def stored_users(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(select(USERS).order_by(USERS.c.id))
        return [dict(row._mapping) for row in result]


@pytest.fixture
async def chat(engine: AsyncEngine) -> AsyncIterator[ChatService]:
    service = make_chat(engine, ROOMS, MAX_CHARS)
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
async def rules() -> AsyncIterator[ChatService]:
    """A ChatService that is never started, on an engine that is never connected.

    The room and text rules must hold before any database work: a rule checked too late would
    reach the engine, whose database has no tables, and fail with a driver error instead.
    """
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    yield make_chat(engine, ROOMS, MAX_CHARS)
    await engine.dispose()
