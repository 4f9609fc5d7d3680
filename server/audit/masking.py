"""Secrets never reach the audit log: values under secret-looking keys become ``"***"``."""

import re

MASK = "***"

# A key naming one of these anywhere is secret ("client_secret", "private_key_pem").
_SECRET_WORDS = frozenset(
    {
        "secret",
        "secrets",
        "password",
        "passwd",
        "passphrase",
        "private",
        "credential",
        "credentials",
    }
)
# A key ending in one of these names the secret itself ("id_token", "api_key"), while a key that
# only qualifies it is harmless ("token_endpoint", "key_count", "access_token_issuer", "kid").
_SECRET_NOUNS = frozenset(
    {"token", "tokens", "key", "keys", "apikey", "jwk", "pem", "cookie", "authorization"}
)
# The private members of a JWK (RFC 7518 section 6): "d" alone means nothing elsewhere.
_JWK_PRIVATE = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def mask(value: object) -> object:
    """A copy of ``value`` with every secret-looking member replaced by ``"***"``, recursively.

    ``None`` and booleans stay: they carry no secret, and show whether one is set.
    """
    if isinstance(value, dict):
        jwk = "kty" in value
        return {
            key: _hidden(item) if _is_secret(key, jwk) and not _is_jwks(item) else mask(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask(item) for item in value]
    return value


def is_secret_key(key: str) -> bool:
    """Whether a member named ``key`` holds secret material."""
    words = [word.lower() for word in _WORD.findall(key)]
    if not words:
        return False
    return bool(_SECRET_WORDS.intersection(words)) or words[-1] in _SECRET_NOUNS


def _is_secret(key: object, jwk: bool) -> bool:
    if not isinstance(key, str):
        return False
    return is_secret_key(key) or (jwk and key in _JWK_PRIVATE)


def _is_jwks(value: object) -> bool:
    """A list of JWKs ("keys" of a JWK set): kept, with the private members of each masked."""
    return (
        isinstance(value, list | tuple)
        and bool(value)
        and all(isinstance(item, dict) and "kty" in item for item in value)
    )


def _hidden(value: object) -> object:
    return value if value is None or isinstance(value, bool) else MASK
