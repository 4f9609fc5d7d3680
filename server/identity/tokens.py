"""Reading a compact JWS before its signature is checked: shape, size and header rules only."""

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from server.identity.errors import InvalidTokenError

MAX_TOKEN_CHARS = 16 * 1024
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
# Key-carrying headers are never followed; a token that carries one is refused outright.
FORBIDDEN_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c", "crit"})


@dataclass(frozen=True, slots=True)
class UnverifiedToken:
    """Header and claims of a token whose signature is NOT yet checked: use only to route."""

    raw: str
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        return str(self.header["alg"])

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None

    @property
    def typ(self) -> str | None:
        typ = self.header.get("typ")
        return typ.lower() if isinstance(typ, str) else None


def peek(token: object, what: str) -> UnverifiedToken:
    """Split and decode a compact JWS without verifying it.

    Raises:
        InvalidTokenError (invalid_token): not a string, too long (checked before anything is
            decoded), not three base64url JSON objects (nested deeper than the parser allows
            included), no ``alg``, a ``kid`` or ``typ`` that is not a string, or a forbidden
            header (``jku``, ``jwk``, ``x5u``, ``x5c``, ``crit``).
    """
    if not isinstance(token, str) or not token:
        raise InvalidTokenError(f"{what}: not a non-empty string")
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidTokenError(f"{what}: longer than {MAX_TOKEN_CHARS} characters")
    parts = token.split(".")
    if len(parts) != 3 or not all(_BASE64URL.fullmatch(part) for part in parts):
        raise InvalidTokenError(f"{what}: not a compact JWS")
    header = _json_part(parts[0], what, "header")
    claims = _json_part(parts[1], what, "payload")
    signature = _decode(parts[2], what, "signature")
    _check_header(header, what)
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    return UnverifiedToken(token, header, claims, signing_input, signature)


def _check_header(header: dict[str, Any], what: str) -> None:
    if not isinstance(header.get("alg"), str):
        raise InvalidTokenError(f"{what}: header has no alg")
    if any(not isinstance(header.get(name, ""), str) for name in ("kid", "typ")):
        raise InvalidTokenError(f"{what}: header kid or typ is not a string")
    forbidden = FORBIDDEN_HEADERS & header.keys()
    if forbidden:
        raise InvalidTokenError(f"{what}: forbidden header {sorted(forbidden)}")


def _decode(segment: str, what: str, name: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except ValueError as exc:
        raise InvalidTokenError(f"{what}: {name} is not base64url") from exc


def _json_part(segment: str, what: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(_decode(segment, what, name))
    except ValueError as exc:
        raise InvalidTokenError(f"{what}: {name} is not base64url JSON") from exc
    except RecursionError as exc:  # json's C parser stops at the recursion limit, cleanly
        raise InvalidTokenError(f"{what}: {name} is nested too deeply") from exc
    if not isinstance(value, dict):
        raise InvalidTokenError(f"{what}: {name} is not a JSON object")
    return value
