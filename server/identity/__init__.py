"""Identity: OpenID Connect token verification. Imports nothing from chat, storage or web layers."""

from server.identity.clock import Clock, SystemClock
from server.identity.errors import (
    IdentityError,
    IdpUnavailableError,
    InsufficientScopeError,
    InvalidRequestError,
    InvalidTokenError,
    TokenExpiredError,
    UnknownIssuerError,
)
from server.identity.identity import Identity
from server.identity.jwks import JwksCache
from server.identity.logout import LogoutRequest, verify_logout_token
from server.identity.providers import ProviderMetadata
from server.identity.verifier import ProviderVerifier, TokenVerifier

__all__ = [
    "Clock",
    "Identity",
    "IdentityError",
    "IdpUnavailableError",
    "InsufficientScopeError",
    "InvalidRequestError",
    "InvalidTokenError",
    "JwksCache",
    "LogoutRequest",
    "ProviderMetadata",
    "ProviderVerifier",
    "SystemClock",
    "TokenExpiredError",
    "TokenVerifier",
    "UnknownIssuerError",
    "verify_logout_token",
]
