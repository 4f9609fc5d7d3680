"""OpenID Connect Back-Channel Logout 1.0: verifying a logout token (section 2.6)."""

from dataclasses import dataclass
from typing import Any

from server.identity.errors import InvalidTokenError
from server.identity.tokens import peek
from server.identity.verifier import ProviderVerifier

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    """A verified logout: end the session ``session_id``, or every session of ``subject``."""

    provider_id: str
    issuer: str
    jti: str
    subject: str | None
    session_id: str | None
    issued_at: float


async def verify_logout_token(verifier: ProviderVerifier, token: object) -> LogoutRequest:
    """Verify a logout token from this provider.

    Raises:
        InvalidTokenError (invalid_token): signature, ``iss``, ``aud`` (the client id), ``iat``,
            ``jti``, the ``events`` member, ``sub``/``sid``, a ``nonce`` present, or a ``typ``
            other than ``logout+jwt``.
        IdpUnavailableError (idp_unavailable): the provider's keys cannot be had.
    """
    unverified = peek(token, "logout token")
    if unverified.typ not in (None, "logout+jwt", "application/logout+jwt"):
        raise InvalidTokenError(f"logout token: typ {unverified.typ!r}")
    if unverified.claims.get("iss") != verifier.provider.issuer:
        raise InvalidTokenError("logout token: issuer is not this provider")
    claims = await verifier.verify_jws(unverified, "logout token")
    verifier.check_claims(
        claims, verifier.provider.client_id, "logout token", require_sub=False, require_exp=False
    )
    _check_logout_claims(claims)
    return LogoutRequest(
        provider_id=verifier.provider.id,
        issuer=verifier.provider.issuer,
        jti=claims["jti"],
        subject=claims.get("sub"),
        session_id=claims.get("sid"),
        issued_at=float(claims["iat"]),
    )


def _check_logout_claims(claims: dict[str, Any]) -> None:
    if not isinstance(claims.get("jti"), str) or not claims["jti"] or len(claims["jti"]) > 255:
        raise InvalidTokenError("logout token: jti missing")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise InvalidTokenError("logout token: no back-channel logout event")
    if "nonce" in claims:
        raise InvalidTokenError("logout token: carries a nonce")
    sub, sid = claims.get("sub"), claims.get("sid")
    if sub is None and sid is None:
        raise InvalidTokenError("logout token: neither sub nor sid")
    for value in (sub, sid):
        if value is not None and (not isinstance(value, str) or not value or len(value) > 255):
            raise InvalidTokenError("logout token: sub/sid is not a string")
