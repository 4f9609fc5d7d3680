"""A ChatService wired as the composition root wires it, for tests below the server."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from server.chat import ChatService, RoomDirectory
from server.config import RoomConfig, SessionSettings
from server.identity import SystemClock
from server.sessions import SessionService
from server.storage import (
    ChatRepository,
    LogoutRepository,
    MessageWriter,
    RoomRepository,
    UserRepository,
)


def make_chat(
    engine: AsyncEngine,
    rooms: Sequence[RoomConfig],
    max_chars: int,
    sessions: SessionService | None = None,
) -> ChatService:
    repository = ChatRepository(engine)
    directory = RoomDirectory(rooms)
    writer = MessageWriter(engine, repository, directory.slug_of)
    sessions = sessions or SessionService(
        SessionSettings(), LogoutRepository(engine), UserRepository(engine), SystemClock()
    )
    return ChatService(repository, RoomRepository(engine), writer, directory, sessions, max_chars)
