"""SessionTransport: how the session rules reach a live socket, whatever carries it."""

from typing import Protocol


class SessionTransport(Protocol):
    """Implemented by the Socket.IO adapter; the session rules decide, the transport delivers."""

    async def session_expiring(self, sid: str, expires_at: float) -> None:
        """Warn the socket that its access token expires at ``expires_at``."""

    async def session_ended(self, sid: str, reason: str) -> None:
        """Tell the socket why its session ended, then close it."""


class DetachedTransport:
    """Before a transport is attached no socket exists: there is nobody to tell."""

    async def session_expiring(self, sid: str, expires_at: float) -> None:
        return None

    async def session_ended(self, sid: str, reason: str) -> None:
        return None
