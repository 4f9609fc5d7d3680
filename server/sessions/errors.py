"""Session errors: refusals at connect/refresh, and acks for events."""

from server.errors import AppError
from server.identity import IdentityError


class SessionRevokedError(IdentityError):
    code = "session_revoked"
    message = "You signed out at your identity provider. Sign in again."


class TooManyConnectionsError(IdentityError):
    code = "too_many_connections"
    message = "You have too many open connections. Close one and try again."
    retryable = True


class IdentityChangedError(IdentityError):
    code = "identity_changed"
    message = "The new tokens belong to someone else."


class SessionExpiredError(AppError):
    code = "token_expired"
    message = "Your session has expired. Refresh your tokens."
    retryable = True


class RateLimitedError(AppError):
    code = "rate_limited"
    message = "You are sending too fast. Slow down."
    retryable = True
