"""Sessions: what happens to a verified connection over its life (expiry, refresh, logout, limits)."""

from server.sessions.errors import (
    AccountBlockedError,
    AlreadyBoundError,
    IdentityChangedError,
    RateLimitedError,
    ReplayedLogoutError,
    SessionError,
    SessionExpiredError,
    SessionRevokedError,
    TooManyConnectionsError,
)
from server.sessions.limits import LocalLimits, SharedLimits
from server.sessions.presence import Presence
from server.sessions.ratelimit import TokenBucket
from server.sessions.registry import Due, LiveSession, SessionRegistry
from server.sessions.service import SessionService
from server.sessions.stats import ConnectStats
from server.sessions.transport import SessionTransport

__all__ = [
    "AccountBlockedError",
    "AlreadyBoundError",
    "ConnectStats",
    "Due",
    "IdentityChangedError",
    "LiveSession",
    "LocalLimits",
    "Presence",
    "RateLimitedError",
    "ReplayedLogoutError",
    "SessionError",
    "SessionExpiredError",
    "SessionRegistry",
    "SessionRevokedError",
    "SessionService",
    "SessionTransport",
    "SharedLimits",
    "TokenBucket",
    "TooManyConnectionsError",
]
