"""SessionService: admission, refresh, limits, expiry and back-channel logout of live sessions.

Every entry point (Socket.IO, the admin API) goes through these use cases, so no rule is repeated.
"""

import asyncio
import logging
import time
from collections.abc import Callable

from server.audit import SYSTEM, AuditLog
from server.config import SessionSettings
from server.errors import AppError
from server.identity import (
    AccessDeniedError,
    Clock,
    Identity,
    LogoutRequest,
    TokenVerifier,
    UnknownIssuerError,
    verify_logout_token,
)
from server.metrics import OK, ChatMetrics
from server.sessions.directory import UserDirectory
from server.sessions.errors import (
    AccountBlockedError,
    AlreadyBoundError,
    IdentityChangedError,
    RateLimitedError,
    ReplayedLogoutError,
    SessionExpiredError,
    SessionGoneError,
    SessionRevokedError,
    TooManyConnectionsError,
)
from server.sessions.limits import LocalLimits, SharedLimits
from server.sessions.registry import Due, LiveSession, SessionRegistry
from server.sessions.revocations import Logouts, RevocationIndex
from server.sessions.stats import ConnectStats
from server.sessions.transport import DetachedTransport, SessionTransport
from server.storage import LogoutRecord, LogoutRepository, UserRepository

logger = logging.getLogger(__name__)

BUCKET_PRUNE_SECONDS = 60.0


class SessionService:
    """The rules of a session's life after its tokens are verified."""

    def __init__(
        self,
        settings: SessionSettings,
        logouts: LogoutRepository,
        users: UserRepository,
        clock: Clock,
        verifier: TokenVerifier | None = None,
        audit: AuditLog | None = None,
        limits: SharedLimits | None = None,
        metrics: ChatMetrics | None = None,
    ) -> None:
        self._settings = settings
        self._logouts = logouts
        self._clock = clock
        self._verifier = verifier or TokenVerifier([])  # no provider: every token is refused
        self._transport: SessionTransport = DetachedTransport()
        self.users = UserDirectory(users, clock)
        self.stats = ConnectStats()
        self._audit = audit  # the composition root always passes it; unit tests may not
        self._limits: SharedLimits = limits or LocalLimits()
        self._metrics = metrics or ChatMetrics()
        self.registry = SessionRegistry(settings)
        self._next_bucket_prune = 0.0
        self.revocations = RevocationIndex(logouts)
        self._sync_failures = 0

    def attach(self, transport: SessionTransport) -> None:
        """The transport that carries the live sockets (set once by the composition root)."""
        self._transport = transport

    async def authenticate(
        self, access_token: object, id_token: object | None, *, admit: bool = True
    ) -> Identity:
        """Verify tokens and check the session they prove is not logged out: the one rule for
        every entry point (a Socket.IO connect, an admin request). ``admit=False``: the
        provider's admission rules are not asked (the admin API asks the ``[admin]`` table).

        Raises:
            IdentityError: any verification failure (its code says which).
            SessionRevokedError (session_revoked): the provider logged this session out.
        """
        started = time.perf_counter()
        try:
            identity = await self._verifier.verify(access_token, id_token, admit=admit)
        except AppError:
            self._metrics.verification.labels("refused").observe(time.perf_counter() - started)
            raise
        self._metrics.verification.labels(OK).observe(time.perf_counter() - started)
        self._check_allowed(identity)
        self.users.saw(identity)
        return identity

    async def connect(self, sid: str, access_token: object, id_token: object | None) -> LiveSession:
        """Authenticate a new socket and bind the identity to it (see ``authenticate``, ``admit``);
        the outcome is counted per provider (``stats``)."""
        try:
            session = await self.bind(sid, await self.authenticate(access_token, id_token))
        except AppError as exc:
            hint = self._verifier.provider_hint(access_token, id_token)
            self.stats.record(hint, exc.code, self._clock.now())
            self._metrics.connects.labels(hint or "unknown", exc.code).inc()
            raise
        self.stats.record(session.identity.provider_id, OK, self._clock.now())
        self._metrics.connects.labels(session.identity.provider_id, OK).inc()
        return session

    async def refresh_tokens(
        self, sid: str, access_token: object, id_token: object | None
    ) -> LiveSession:
        """Verify new tokens for a live socket and apply them; tokens of another user or of a
        logged-out session, of a blocked user or refused by the provider's admission rules end the
        socket (``identity_changed`` / ``logged_out`` / ``blocked`` / ``access_denied``).

        Raises:
            IdentityError, IdentityChangedError, SessionRevokedError.
        """
        try:
            identity = await self._verifier.verify(access_token, id_token, id_token_optional=True)
        except AccessDeniedError:  # no longer admitted: the session ends, as it would at connect
            await self.end([sid], "access_denied")
            raise
        try:
            return self.refresh(sid, identity)
        except IdentityChangedError:
            await self.end([sid], "identity_changed")
            raise
        except SessionRevokedError:
            await self.end([sid], "logged_out")
            raise
        except AccountBlockedError:
            await self.end([sid], "blocked")
            raise

    async def end(self, sids: list[str], reason: str) -> None:
        """End these sockets' sessions: forgotten here, told why and closed by the transport."""
        for sid in sids:
            self.remove(sid)
            self._metrics.sessions_ended.labels(reason).inc()
            await self._transport.session_ended(sid, reason)
            logger.info("session %s ended: %s", sid, reason, extra={"sid": sid, "code": reason})

    async def end_where(self, covered: Callable[[Identity], bool], reason: str) -> int:
        """End every live socket whose identity ``covered`` selects; returns how many."""
        sids = [s.sid for s in self.registry.sessions() if covered(s.identity)]
        await self.end(sids, reason)
        return len(sids)

    def count_where(self, covered: Callable[[Identity], bool]) -> int:
        return sum(1 for s in self.registry.sessions() if covered(s.identity))

    async def sweep(self) -> None:
        """Warn sockets whose token expires soon; end those past expiry plus grace."""
        ended: list[str] = []
        for due, session in self.due():
            if due is Due.WARN:
                await self._transport.session_expiring(session.sid, session.identity.expires_at)
            else:
                ended.append(session.sid)
        await self.end(ended, "token_expired")

    async def enforce_logouts(self) -> None:
        """End the live sockets that logouts stored by other server processes cover."""
        await self.end(await self.sync_logouts(), "logged_out")

    async def sign_out(self, request: LogoutRequest) -> int:
        """Record a logout and end the live sockets it covers here (``logged_out``); the other
        processes follow it at their next ``enforce_logouts``. Returns how many ended here.

        Raises:
            ReplayedLogoutError (token_replayed): its ``jti`` was seen before.
        """
        sids = await self.logout(request)
        await self.end(sids, "logged_out")
        return len(sids)

    async def backchannel_logout(self, provider_id: str, logout_token: object) -> int:
        """Verify a back-channel logout token, record it, end the sessions it names; returns how many.

        Raises:
            IdentityError: the token is not a valid, fresh logout token of that provider.
            ReplayedLogoutError (token_replayed): its ``jti`` was seen before.
        """
        try:
            verifier = self._verifier.for_provider(provider_id)
            if verifier is None:
                raise UnknownIssuerError(f"no provider {provider_id!r}")
            request = await verify_logout_token(verifier, logout_token)
            ended = await self.sign_out(request)
        except AppError as exc:
            self._metrics.backchannel.labels(exc.code).inc()
            raise
        self._metrics.backchannel.labels(OK).inc()
        if self._audit is not None:
            await self._audit.note(
                SYSTEM,
                "logout.backchannel",
                f"provider:{provider_id}",
                subject=request.subject,
                session=request.session_id is not None,
                ended_here=ended,
            )
        return ended

    async def enforce_blocks(self, revision: int | None = None) -> None:
        """Follow block changes made by any process: end the live sockets of blocked users."""
        if await self.users.sync(revision):
            await self.end_where(lambda i: self.users.is_blocked(i.key), "blocked")

    def _check_allowed(self, identity: Identity) -> None:
        if self.users.is_blocked(identity.key):
            raise AccountBlockedError(f"{identity.provider_id}/{identity.subject} is blocked")
        if self.revocations.is_revoked(identity):
            raise SessionRevokedError(f"{identity.subject}: session logged out")

    async def bind(self, sid: str, identity: Identity) -> LiveSession:
        """``admit`` here, then claim the socket's place in the user's cap on every process.

        Raises:
            What ``admit`` raises; TooManyConnectionsError when the cluster's count is full.
        """
        session = self.admit(sid, identity)
        if not await self._limits.claim(session, self._settings.max_connections_per_user):
            self.registry.remove(sid)
            raise TooManyConnectionsError(f"{identity.subject} is at the cluster's cap")
        return session

    def admit(self, sid: str, identity: Identity) -> LiveSession:
        """Register a verified connection.

        Raises:
            TooManyConnectionsError (too_many_connections), SessionRevokedError (session_revoked).
        """
        if self.registry.get(sid) is not None:  # a socket's identity is bound once, at connect
            raise AlreadyBoundError(f"{sid} is already bound to an identity")
        self._check_allowed(identity)
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
        self._check_allowed(identity)
        self.registry.replace_identity(session, identity)
        return session

    def current(self, sid: str) -> LiveSession:
        session = self.registry.get(sid)
        if session is None:
            # Events before connect are not routed: the session was ended and the socket closes.
            raise SessionGoneError(f"{sid} has no live session")
        return session

    async def check_can_send(self, session: LiveSession) -> None:
        """The connection's rate here, then the user's: over every process when they share the
        count (``limits``), else over this one.

        Raises:
            SessionExpiredError (token_expired): the access token has expired (no grace for sends).
            RateLimitedError (rate_limited): the connection's or the user's rate is exceeded.
        """
        if self._clock.now() >= session.identity.expires_at:
            raise SessionExpiredError(f"{session.sid}: send after exp")
        now = self._clock.monotonic()
        if not self.registry.take_connection_token(session, now):
            self._metrics.rate_limited.labels("message").inc()
            raise RateLimitedError(f"{session.sid}: over the connection's message rate")
        shared = await self._limits.take_message(session)
        if shared is None:
            shared = self.registry.take_user_token(session, now)
        if not shared:
            self._metrics.rate_limited.labels("message").inc()
            raise RateLimitedError(f"{session.sid}: over the user's message rate")

    def check_event_rate(self, session: LiveSession) -> None:
        """Raises RateLimitedError (rate_limited) past the connection's event rate (any event)."""
        if not session.events.take(self._clock.monotonic()):
            self._metrics.rate_limited.labels("event").inc()
            raise RateLimitedError(f"{session.sid}: over the event rate")

    def remove(self, sid: str) -> None:
        session = self.registry.remove(sid)
        if session is not None:
            self._limits.release(session)

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
        await self.users.sync()
