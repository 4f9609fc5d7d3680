"""Sessions: what happens to a verified connection over its life (expiry, refresh, logout, limits)."""

from server.sessions.errors import (
    IdentityChangedError,
    RateLimitedError,
    SessionExpiredError,
    SessionRevokedError,
    TooManyConnectionsError,
)
from server.sessions.ratelimit import TokenBucket
from server.sessions.registry import Due, LiveSession, SessionRegistry
from server.sessions.service import ReplayedLogoutError, SessionService

__all__ = [
    "Due",
    "IdentityChangedError",
    "LiveSession",
    "RateLimitedError",
    "ReplayedLogoutError",
    "SessionExpiredError",
    "SessionRegistry",
    "SessionRevokedError",
    "SessionService",
    "TokenBucket",
    "TooManyConnectionsError",
]
