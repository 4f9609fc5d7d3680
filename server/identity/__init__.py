"""Identity: OpenID Connect token verification. Imports nothing from chat, storage or web layers."""

from server.identity.admission import check_identity as check_admission
from server.identity.clock import Clock, SystemClock
from server.identity.errors import (
    AccessDeniedError,
    IdentityError,
    IdpUnavailableError,
    InsufficientScopeError,
    InvalidRequestError,
    InvalidTokenError,
    ProviderDisabledError,
    TokenExpiredError,
    UnknownIssuerError,
)
from server.identity.identity import Identity
from server.identity.jwks import MAX_KEYS, MIN_RSA_BITS, JwksCache, parse_key_set
from server.identity.logout import LogoutRequest, verify_logout_token
from server.identity.preview import preview_claims, preview_tokens
from server.identity.providers import MAX_DOCUMENT_BYTES, ProviderMetadata, fetch_json
from server.identity.verifier import ProviderVerifier, TokenVerifier

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_KEYS",
    "MIN_RSA_BITS",
    "AccessDeniedError",
    "Clock",
    "Identity",
    "IdentityError",
    "IdpUnavailableError",
    "InsufficientScopeError",
    "InvalidRequestError",
    "InvalidTokenError",
    "JwksCache",
    "LogoutRequest",
    "ProviderDisabledError",
    "ProviderMetadata",
    "ProviderVerifier",
    "SystemClock",
    "TokenExpiredError",
    "TokenVerifier",
    "UnknownIssuerError",
    "check_admission",
    "fetch_json",
    "parse_key_set",
    "preview_claims",
    "preview_tokens",
    "verify_logout_token",
]
