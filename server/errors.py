"""The single base exception. Every error a client can see is a subclass with a stable code."""

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from pydantic import ValidationError


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


class InvalidFieldsError(AppError):
    """Fields an admin sent that do not validate; ``fields`` names each and its problem."""

    code = "invalid_request"
    message = "The request is not valid."

    def __init__(self, detail: str, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.fields = fields or []

    @classmethod
    def from_validation(cls, exc: "ValidationError") -> "InvalidFieldsError":
        fields = [
            {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "problem": err["msg"]}
            for err in exc.errors()
        ]
        return cls(f"{len(fields)} invalid fields", fields)

    def public(self) -> dict[str, object]:
        # What was wrong, per field: the admin typed it, and pydantic's messages quote no secret.
        return {**super().public(), "fields": self.fields}
