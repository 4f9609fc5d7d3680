"""SessionService: admission, refresh, limits, expiry and back-channel logout of live sessions."""

import asyncio
import logging

from server.config import SessionSettings
from server.errors import AppError
from server.identity import Clock, Identity, LogoutRequest
from server.sessions.errors import (
    AlreadyBoundError,
    IdentityChangedError,
    RateLimitedError,
    ReplayedLogoutError,
    SessionExpiredError,
    SessionRevokedError,
    TooManyConnectionsError,
)
from server.sessions.registry import Due, LiveSession, SessionRegistry
from server.sessions.revocations import Logouts, RevocationIndex
from server.storage import LogoutRecord, LogoutRepository

logger = logging.getLogger(__name__)

BUCKET_PRUNE_SECONDS = 60.0


class SessionService:
    """The rules of a session's life after its tokens are verified."""

    def __init__(self, settings: SessionSettings, logouts: LogoutRepository, clock: Clock) -> None:
        self._settings = settings
        self._logouts = logouts
        self._clock = clock
        self.registry = SessionRegistry(settings)
        self._next_bucket_prune = 0.0
        self.revocations = RevocationIndex(logouts)
        self._sync_failures = 0

    def admit(self, sid: str, identity: Identity) -> LiveSession:
        """Register a verified connection.

        Raises:
            TooManyConnectionsError (too_many_connections), SessionRevokedError (session_revoked).
        """
        if self.registry.get(sid) is not None:  # a socket's identity is bound once, at connect
            raise AlreadyBoundError(f"{sid} is already bound to an identity")
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
        """Sessions whose expiry warning or end is due (and, now and then, idle buckets pruned)."""
        now = self._clock.monotonic()
        if now >= self._next_bucket_prune:
            self.registry.forget_refilled_buckets(now)
            self._next_bucket_prune = now + BUCKET_PRUNE_SECONDS
        return self.registry.due(self._clock.now())

    async def logout(self, request: LogoutRequest) -> list[str]:
        """Record a verified logout (once per ``jti``); returns the sockets it ends: those whose
        token was issued at or before it (a token issued after it comes from a new sign-in).

        Raises:
            ReplayedLogoutError (token_replayed): the ``jti`` was seen before.
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
        logout = Logouts()
        logout.add(record)
        return self._covered(logout)

    async def sync_logouts(self) -> list[str]:
        """Follow the logouts stored by every process; returns the live sockets the new ones end.

        Only logouts another process received are new here (this one ended its sockets at once).
        A failed or slow sync (bounded by the sync interval) loads nothing, is logged once, and
        the next sync loads what it missed.
        """
        loaded = await self._load_logouts()
        return self._covered(loaded) if loaded else []

    def _covered(self, logouts: Logouts) -> list[str]:
        """The live sockets ``logouts`` end: the same rule here and wherever a logout arrives."""
        return [s.sid for s in self.registry.sessions() if logouts.covers(s.identity)]

    async def _load_logouts(self) -> Logouts:
        try:
            async with asyncio.timeout(self._settings.revocation_sync_seconds):
                loaded = await self.revocations.sync()
        except Exception as exc:  # any database or driver error: the job must go on, and it will
            self._sync_failed(exc)
            return Logouts()
        if self._sync_failures:
            logger.info("loading logouts works again after %d failures", self._sync_failures)
            self._sync_failures = 0
        self.revocations.prune(self._clock.now() - self._settings.logout_retention_seconds)
        return loaded

    def _sync_failed(self, exc: Exception) -> None:
        self._sync_failures += 1
        if self._sync_failures == 1:  # once per outage, not once per interval
            logger.warning("loading logouts failed; retrying quietly", exc_info=exc)

    async def start(self) -> None:
        """Forget logouts past retention, then load the rest into the revocation index."""
        removed = await self._logouts.prune(
            self._clock.now() - self._settings.logout_retention_seconds
        )
        if removed:
            logger.info("pruned %d old logouts", removed)
        await self.revocations.sync()
