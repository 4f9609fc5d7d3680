"""Session errors: refusals at connect/refresh, and acks for events. Their own family under
``AppError``: a session rule is not an identity (token) failure."""

from server.errors import AppError


class SessionError(AppError):
    """Base of every refusal by a session rule (after the tokens were verified)."""

    code = "invalid_request"
    message = "The request is malformed."


class AlreadyBoundError(SessionError):
    """A socket's identity is bound once, at connect."""

    code = "invalid_request"
    message = "This connection is already signed in."


class SessionRevokedError(SessionError):
    code = "session_revoked"
    message = "You signed out at your identity provider. Sign in again."


class TooManyConnectionsError(SessionError):
    code = "too_many_connections"
    message = "You have too many open connections. Close one and try again."
    retryable = True


class IdentityChangedError(SessionError):
    code = "identity_changed"
    message = "The new tokens belong to someone else."


class ReplayedLogoutError(SessionError):
    """A logout token whose ``jti`` was already used."""

    code = "token_replayed"
    message = "This logout token was already used."


class SessionExpiredError(SessionError):
    code = "token_expired"
    message = "Your session has expired. Refresh your tokens."
    retryable = True


class RateLimitedError(SessionError):
    code = "rate_limited"
    message = "You are sending too fast. Slow down."
    retryable = True


class AccountBlockedError(SessionError):
    """An admin blocked this user: connects and refreshes are refused on every process."""

    code = "account_blocked"
    message = "Your account is blocked in this chat. Ask an administrator."


class SessionGoneError(SessionError):
    """An event on a socket whose session the server has just ended (it closes next): the
    client reconnects and sends again (a message with the same ``client_id`` is stored once)."""

    code = "internal_error"
    message = "This connection's session has ended. Reconnect and try again."
    retryable = True
