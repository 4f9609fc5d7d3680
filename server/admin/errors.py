"""Admin API errors, and the HTTP status each public code answers with."""

from server.errors import AppError


class AdminError(AppError):
    """A refused admin request."""


class NotAuthenticatedError(AdminError):
    code = "invalid_token"
    message = "Sign in: this request carries no valid access token."


class NotAnAdminError(AdminError):
    code = "forbidden"
    message = "You are signed in, but not an administrator."


class BadRequestError(AdminError):
    code = "invalid_request"
    message = "The request is not valid."


class NotFoundError(AdminError):
    code = "not_found"
    message = "There is no such thing."


STATUS_BY_CODE = {
    "invalid_request": 400,
    "invalid_token": 401,
    "token_expired": 401,
    "unknown_issuer": 401,
    "session_revoked": 401,
    "insufficient_scope": 403,
    "forbidden": 403,
    "access_denied": 403,
    "account_blocked": 403,
    "provider_disabled": 403,
    "groups_overage": 403,
    "not_found": 404,
    "conflict": 409,
    "provider_in_file": 409,
    "would_lock_out": 409,
    "room_in_file": 409,
    "payload_too_large": 413,
    "idp_unavailable": 503,
}


def status_for(error: AppError) -> int:
    """The HTTP status of an error's code (503 for other retryable errors, else 500)."""
    return STATUS_BY_CODE.get(error.code, 503 if error.retryable else 500)
