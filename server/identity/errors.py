"""Identity errors. Each code is part of the public protocol (README: Error codes)."""

from server.errors import AppError


class IdentityError(AppError):
    """Base of every refusal at connect or token refresh."""

    code = "invalid_token"
    message = "Your sign-in could not be verified. Sign in again."


class InvalidRequestError(IdentityError):
    code = "invalid_request"
    message = "The connection request is malformed or carries no tokens."


class InvalidTokenError(IdentityError):
    code = "invalid_token"
    message = "Your sign-in could not be verified. Sign in again."


class TokenExpiredError(IdentityError):
    code = "token_expired"
    message = "Your session has expired. Sign in again."
    retryable = True


class UnknownIssuerError(IdentityError):
    code = "unknown_issuer"
    message = "Your identity provider is not configured on this server."


class InsufficientScopeError(IdentityError):
    code = "insufficient_scope"
    message = "Your sign-in does not grant access to chat."


class IdpUnavailableError(IdentityError):
    code = "idp_unavailable"
    message = "Your identity provider cannot be reached right now. Try again shortly."
    retryable = True


class UnknownKeyError(InvalidTokenError):
    """No key with the token's ``kid`` in the provider's key set (after any allowed refresh)."""


class GroupsOverageError(IdentityError):
    """Entra ID left the groups out of the token (over 200): rooms cannot be decided."""

    code = "groups_overage"
    message = "Your account is in too many groups for sign-in to decide your rooms."


class AccessDeniedError(IdentityError):
    """The tokens are valid, but the provider's admission rules do not let this user in.

    ``reason`` names the rule (for logs and the admin's preview, never the user).
    """

    code = "access_denied"
    message = "Your account is not allowed to use this chat."

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderDisabledError(IdentityError):
    """The provider is configured but an admin has disabled it."""

    code = "provider_disabled"
    message = "Sign-in with this identity provider is turned off."
