"""SessionService: admission, refresh, limits, expiry and back-channel logout of live sessions."""

import logging

from server.config import SessionSettings
from server.errors import AppError
from server.identity import Clock, Identity, InvalidRequestError, InvalidTokenError, LogoutRequest
from server.sessions.errors import (
    IdentityChangedError,
    RateLimitedError,
    SessionExpiredError,
    SessionRevokedError,
    TooManyConnectionsError,
)
from server.sessions.registry import Due, LiveSession, SessionRegistry
from server.sessions.revocations import RevocationIndex
from server.storage import LogoutRecord, LogoutRepository

logger = logging.getLogger(__name__)


class ReplayedLogoutError(InvalidTokenError):
    """A logout token whose ``jti`` was already used."""


class SessionService:
    """The rules of a session's life after its tokens are verified."""

    def __init__(self, settings: SessionSettings, logouts: LogoutRepository, clock: Clock) -> None:
        self._settings = settings
        self._logouts = logouts
        self._clock = clock
        self.registry = SessionRegistry(settings)
        self.revocations = RevocationIndex(logouts)

    def admit(self, sid: str, identity: Identity) -> LiveSession:
        """Register a verified connection.

        Raises:
            TooManyConnectionsError (too_many_connections), SessionRevokedError (session_revoked).
        """
        if self.registry.get(sid) is not None:  # a socket's identity is bound once, at connect
            raise InvalidRequestError(f"{sid} is already bound to an identity")
        if self.revocations.is_revoked(identity):
            raise SessionRevokedError(f"{identity.subject}: session logged out")
        if self.registry.count_for(identity) >= self._settings.max_connections_per_user:
            raise TooManyConnectionsError(f"{identity.subject} is at the connection cap")
        return self.registry.add(sid, identity, self._clock.monotonic())

    def refresh(self, sid: str, identity: Identity) -> LiveSession:
        """Replace a live session's tokens with newly verified ones of the same user.

        Raises:
            IdentityChangedError (identity_changed), SessionRevokedError (session_revoked).
        """
        session = self.current(sid)
        if identity.key != session.identity.key:
            raise IdentityChangedError("refresh with another user's tokens")
        if self.revocations.is_revoked(identity):
            raise SessionRevokedError(f"{identity.subject}: session logged out")
        self.registry.replace_identity(session, identity)
        return session

    def current(self, sid: str) -> LiveSession:
        session = self.registry.get(sid)
        if session is None:
            raise AppError(f"{sid} has no live session")  # events before connect are not routed
        return session

    def check_can_send(self, session: LiveSession) -> None:
        """Raises:
        SessionExpiredError (token_expired): the access token has expired (no grace for sends).
        RateLimitedError (rate_limited): the connection's or the user's rate is exceeded.
        """
        if self._clock.now() >= session.identity.expires_at:
            raise SessionExpiredError(f"{session.sid}: send after exp")
        if not self.registry.take_message_token(session, self._clock.monotonic()):
            raise RateLimitedError(f"{session.sid}: over the message rate")

    def check_event_rate(self, session: LiveSession) -> None:
        """Raises RateLimitedError (rate_limited) past the connection's event rate (any event)."""
        if not session.events.take(self._clock.monotonic()):
            raise RateLimitedError(f"{session.sid}: over the event rate")

    def remove(self, sid: str) -> None:
        self.registry.remove(sid)

    def due(self) -> list[tuple[Due, LiveSession]]:
        return self.registry.due(self._clock.now())

    async def logout(self, request: LogoutRequest) -> list[str]:
        """Record a verified logout (once per ``jti``); returns the sockets it ends.

        Raises:
            ReplayedLogoutError (invalid_token): the ``jti`` was seen before.
        """
        record = LogoutRecord(
            issuer=request.issuer,
            jti=request.jti,
            subject=request.subject,
            session_id=request.session_id,
            issued_at=request.issued_at,
        )
        if not await self.revocations.record(record):
            raise ReplayedLogoutError(f"logout jti replayed for {request.provider_id}")
        return self.registry.matching(request.issuer, request.subject, request.session_id)

    async def start(self) -> None:
        """Forget logouts past retention, then load the rest into the revocation index."""
        removed = await self._logouts.prune(
            self._clock.now() - self._settings.logout_retention_seconds
        )
        if removed:
            logger.info("pruned %d old logouts", removed)
        await self.revocations.sync()
