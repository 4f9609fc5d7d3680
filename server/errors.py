"""The single base exception. Every error a client can see is a subclass with a stable code."""

from typing import ClassVar


class AppError(Exception):
    """Base of all errors with a stable, public ``code`` and a ``message`` safe to show a user.

    Detail passed to the constructor is for logs only; it never reaches a client.
    """

    code: ClassVar[str] = "internal_error"
    message: ClassVar[str] = "Something went wrong."
    retryable: ClassVar[bool] = False

    def public(self) -> dict[str, object]:
        """The error as sent to clients: code, message and retryable, never the log detail."""
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


class UnexpectedError(AppError):
    """A failure no rule foresaw (a bug, logged with its traceback); the same request may work later."""

    retryable = True


class ConfigError(AppError):
    """The configuration is invalid; raised at start-up only."""

    code = "config_error"
    message = "The server configuration is invalid."
