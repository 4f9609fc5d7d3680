"""The ack error boundary of ChatNamespace, in-process: a real namespace on a real (unstarted)
Socket.IO server, a real SessionService and ChatService on the test database."""

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from server.chat import ChatNamespace
from server.chat.errors import (
    ForbiddenError,
    InvalidPayloadError,
    MessageTooLargeError,
    RoomNotFoundError,
    UnknownEventError,
)
from server.config import SessionSettings
from server.errors import AppError, UnexpectedError
from server.identity import SystemClock
from server.sessions import SessionService
from server.storage import LogoutRepository, UserRepository
from tests.chat.conftest import ISSUER, MAX_CHARS, ROOMS, identity
from tests.support.chat import make_chat

SID = "sid-alice"


@pytest.fixture
async def namespace(engine: AsyncEngine) -> AsyncIterator[ChatNamespace]:
    sessions = SessionService(
        SessionSettings(), LogoutRepository(engine), UserRepository(engine), SystemClock()
    )
    await sessions.start()
    chat = make_chat(engine, ROOMS, MAX_CHARS, sessions)
    await chat.start()
    namespace = ChatNamespace(chat, sessions)
    socketio.AsyncServer(async_mode="asgi").register_namespace(namespace)
    sessions.admit(SID, identity("alice", ("ops",)))
    yield namespace
    await chat.stop()


async def event(namespace: ChatNamespace, name: object, payload: object = None) -> Any:
    return await namespace.trigger_event(name, SID, payload)


REFUSED: list[tuple[object, object, type[AppError]]] = [
    ("join", {"room": "staff"}, ForbiddenError),
    ("fetch_history", {"room": "staff"}, ForbiddenError),
    ("send_message", {"room": "nowhere", "text": "hi"}, RoomNotFoundError),
    ("send_message", {"room": "general", "text": "x" * (MAX_CHARS + 1)}, MessageTooLargeError),
    ("send_message", {"room": "general", "text": " "}, InvalidPayloadError),
    ("fetch_history", {"room": "general", "before": 2, "after": 1}, InvalidPayloadError),
    ("join", ["general"], InvalidPayloadError),
    ("no_such_event", {}, UnknownEventError),
    ("_dispatch", {}, UnknownEventError),
    (5, {}, UnknownEventError),
    (None, {}, UnknownEventError),
]


async def test_an_app_error_is_acked_with_its_code_and_message_only(
    namespace: ChatNamespace,
) -> None:
    for name, payload, error in REFUSED:
        ack = await event(namespace, name, payload)
        # Raised with a log detail; acked exactly as the same error without one.
        assert ack == {"ok": False, "error": error().public()}, (name, payload)
        assert ack["error"]["code"] == error.code


async def test_an_unexpected_error_is_acked_internal_error_without_detail(
    namespace: ChatNamespace, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE messages"))  # the database fails under the service
    with caplog.at_level(logging.ERROR, logger="server.chat.transport"):
        ack = await event(namespace, "fetch_history", {"room": "general"})
    assert ack == {"ok": False, "error": UnexpectedError().public()}
    assert ack["error"]["retryable"] is True
    assert ack["error"]["code"] == "internal_error"
    [record] = [r for r in caplog.records if r.name == "server.chat.transport"]
    assert record.exc_info is not None  # the detail goes to the log, with its traceback
    assert (await event(namespace, "list_rooms"))["ok"] is True  # the socket is still served


async def test_events_are_answered_for_the_session_identity(namespace: ChatNamespace) -> None:
    rooms = await event(namespace, "list_rooms")
    assert rooms == {
        "ok": True,
        "rooms": [{"slug": "general", "name": "General"}, {"slug": "ops", "name": "Ops"}],
    }
    forged = {"room": "ops", "text": "hi", "client_id": "c-1", "sender": {"subject": "root"}}
    sent = await event(namespace, "send_message", forged)
    assert sent["ok"] is True
    assert (sent["message"]["sender"]["issuer"], sent["message"]["sender"]["subject"]) == (
        ISSUER,
        "alice",
    )
    history = await event(namespace, "fetch_history", {"room": "ops"})
    assert history == {"ok": True, "messages": [sent["message"]], "has_more": False}
