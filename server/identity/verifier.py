"""TokenVerifier: access token + ID token → Identity, or a typed refusal. Fails closed."""

import base64
import hashlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jws import JWSRegistry
from joserfc.jwt import JWTClaimsRegistry

from server.config import ProviderConfig
from server.identity.clock import Clock
from server.identity.errors import (
    InsufficientScopeError,
    InvalidRequestError,
    InvalidTokenError,
    TokenExpiredError,
    UnknownIssuerError,
    UnknownKeyError,
)
from server.identity.identity import Identity
from server.identity.jwks import JwksCache, PublicKey
from server.identity.tokens import UnverifiedToken, peek

logger = logging.getLogger(__name__)

MAX_ID_CHARS = 255  # `sub` and `sid`, as the database stores them

ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt", "jwt"})
MAX_NAME_CHARS = 200
MAX_GROUPS = 500
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
_HASH_FOR_ALG = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


class ProviderVerifier:
    """Verifies tokens of one provider, with that provider's keys only."""

    def __init__(self, provider: ProviderConfig, keys: JwksCache, clock: Clock) -> None:
        self.provider = provider
        self.keys = keys
        self._clock = clock

    async def verify_jws(self, token: UnverifiedToken, what: str) -> dict[str, Any]:
        """Signature (allowed alg, key from this provider's JWKS) → the verified claims."""
        if token.alg not in self.provider.algorithms:
            raise InvalidTokenError(f"{what}: alg {token.alg!r} not allowed")
        key = await self._key_for(token, what)
        algorithm = JWSRegistry.algorithms[token.alg]  # present: the allow-list is checked above
        try:
            algorithm.check_key(key)
            valid = algorithm.verify(token.signing_input, token.signature, key)
        except (JoseError, ValueError) as exc:
            raise InvalidTokenError(
                f"{what}: signature check failed ({type(exc).__name__})"
            ) from exc
        if not valid:
            raise InvalidTokenError(f"{what}: bad signature")
        # The signature covers exactly the bytes these claims were decoded from (tokens.peek).
        return token.claims

    def check_claims(
        self, claims: Mapping[str, Any], audience: str, what: str, *, require_sub: bool = True
    ) -> None:
        """``iss`` exact, ``aud`` contains ``audience``; ``sub``/``exp``/``iat`` required; nbf;
        every date between 1970 and 9999.

        Logout tokens may name only a session (``require_sub=False``) and need no ``exp``.
        """
        registry = JWTClaimsRegistry(
            now=lambda: int(self._clock.now()),
            leeway=self.provider.leeway_seconds,
            iss={"essential": True, "value": self.provider.issuer},
            sub={"essential": require_sub},
            aud={"essential": True, "values": [audience]},
            exp={"essential": require_sub},
            iat={"essential": True},
        )
        try:
            registry.validate(dict(claims))
        except ExpiredTokenError as exc:
            raise TokenExpiredError(f"{what}: expired") from exc
        except JoseError as exc:
            raise InvalidTokenError(f"{what}: claim check failed: {exc.error}") from exc
        _check_dates(claims, what)

    async def _key_for(self, token: UnverifiedToken, what: str) -> PublicKey:
        key_set = await self.keys.get()
        key = key_set.find(token.kid, token.alg)
        if key is None and not key_set.has_kid(token.kid):
            refreshed = await self.keys.refresh_for_unknown_kid()
            key = refreshed.find(token.kid, token.alg) if refreshed else None
        if key is None:
            raise UnknownKeyError(f"{what}: no {token.alg} key with kid {token.kid!r}")
        return key


class TokenVerifier:
    """Routes a token to its provider by exact issuer and verifies both tokens there."""

    def __init__(self, verifiers: Iterable[ProviderVerifier]) -> None:
        self._by_issuer = {v.provider.issuer: v for v in verifiers}

    @classmethod
    def build(
        cls, providers: Iterable[ProviderConfig], http: httpx.AsyncClient, clock: Clock
    ) -> "TokenVerifier":
        return cls(ProviderVerifier(p, JwksCache(p, http, clock), clock) for p in providers)

    @property
    def providers(self) -> list[ProviderVerifier]:
        return list(self._by_issuer.values())

    def for_provider(self, provider_id: str) -> ProviderVerifier | None:
        return next((v for v in self._by_issuer.values() if v.provider.id == provider_id), None)

    async def verify(
        self, access_token: object, id_token: object | None, *, id_token_optional: bool = False
    ) -> Identity:
        """Verify the access token (and the ID token) and return the identity they prove.

        Raises:
            InvalidRequestError (invalid_request): the ID token is required but missing.
            InvalidTokenError (invalid_token): any signature, claim or consistency failure.
            TokenExpiredError (token_expired), UnknownIssuerError (unknown_issuer),
            InsufficientScopeError (insufficient_scope), IdpUnavailableError (idp_unavailable).
        """
        access = peek(access_token, "access token")
        verifier = self._verifier_for(access)
        if access.typ is not None and access.typ not in ACCESS_TOKEN_TYPES:
            raise InvalidTokenError(f"access token: typ {access.typ!r} is not an access token type")
        claims = await verifier.verify_jws(access, "access token")
        verifier.check_claims(claims, verifier.provider.audience, "access token")
        _reject_id_token_claims(claims)
        scopes = _scopes(claims)
        missing = set(verifier.provider.required_scopes) - scopes
        if missing:
            raise InsufficientScopeError(f"access token lacks scopes {sorted(missing)}")
        id_claims: Mapping[str, Any] = {}
        if id_token is not None:
            id_claims = await self._verify_id_token(verifier, id_token, access, claims)
        elif verifier.provider.require_id_token and not id_token_optional:
            raise InvalidRequestError("id_token missing")
        return _identity(verifier.provider, claims, id_claims, scopes)

    def _verifier_for(self, token: UnverifiedToken) -> ProviderVerifier:
        issuer = token.claims.get("iss")
        verifier = self._by_issuer.get(issuer) if isinstance(issuer, str) else None
        if verifier is None:
            raise UnknownIssuerError("access token: issuer is not configured")
        return verifier

    async def _verify_id_token(
        self,
        verifier: ProviderVerifier,
        id_token: object,
        access: UnverifiedToken,
        access_claims: Mapping[str, Any],
    ) -> dict[str, Any]:
        token = peek(id_token, "id token")
        if token.typ is not None and token.typ not in {"jwt", "id_token+jwt"}:
            raise InvalidTokenError(f"id token: typ {token.typ!r}")
        if token.claims.get("iss") != verifier.provider.issuer:
            raise InvalidTokenError("id token: issuer differs from the access token's")
        claims = await verifier.verify_jws(token, "id token")
        client_id = verifier.provider.client_id
        verifier.check_claims(claims, client_id, "id token")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != client_id:
            raise InvalidTokenError("id token: azp is not our client")
        if claims["sub"] != access_claims["sub"]:
            raise InvalidTokenError("id token and access token name different subjects")
        at_hash = claims.get("at_hash")
        if at_hash is not None and at_hash != _at_hash(access.raw, token.alg):
            raise InvalidTokenError("id token: at_hash does not match the access token")
        return claims


def _check_dates(claims: Mapping[str, Any], what: str) -> None:
    # A valid NumericDate can still be too large for a float or a datetime (10**400, year 10000).
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if value is not None and not 0 <= value <= MAX_NUMERIC_DATE:
            raise InvalidTokenError(f"{what}: {name} is out of range")


def _reject_id_token_claims(claims: Mapping[str, Any]) -> None:
    # An ID token is never an access token, whatever its audience says (RFC 9068 §4, RFC 8725 §3.11).
    if "nonce" in claims or "at_hash" in claims or "c_hash" in claims:
        raise InvalidTokenError("access token: carries ID token claims")


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    raw = claims.get("scope", claims.get("scp"))
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list):
        return frozenset(s for s in raw if isinstance(s, str))
    return frozenset()


def _at_hash(access_token: str, alg: str) -> str:
    digest = _HASH_FOR_ALG.get(alg[-3:], hashlib.sha512)(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def _identity(
    provider: ProviderConfig,
    access: Mapping[str, Any],
    id_claims: Mapping[str, Any],
    scopes: frozenset[str],
) -> Identity:
    return Identity(
        provider_id=provider.id,
        issuer=provider.issuer,
        subject=_bounded("sub", access["sub"]),
        name=_display_name(provider, access, id_claims),
        groups=_groups(provider, access, id_claims),
        scopes=scopes,
        session_id=_bounded("sid", _first_str("sid", id_claims, access)),
        expires_at=float(access["exp"]),
        issued_at=float(access["iat"]),
    )


def _bounded(claim: str, value: Any) -> Any:
    # OIDC Core caps `sub` at 255 ASCII characters; `sid` has no cap there, but it is stored with
    # every message and 255 is more than any provider we know uses. Longer is refused at connect,
    # not found out at the first message.
    if isinstance(value, str) and len(value) > MAX_ID_CHARS:
        raise InvalidTokenError(f"{claim} longer than {MAX_ID_CHARS} characters")
    return value


def _first_str(claim: str, *sources: Mapping[str, Any]) -> str | None:
    for source in sources:
        value = source.get(claim)
        if isinstance(value, str) and value:
            return value
    return None


def _display_name(
    provider: ProviderConfig, access: Mapping[str, Any], id_claims: Mapping[str, Any]
) -> str:
    for claim in (provider.name_claim, "name", "preferred_username", "email"):
        name = _first_str(claim, id_claims, access)
        if name:
            return name.strip()[:MAX_NAME_CHARS] or str(access["sub"])
    return str(access["sub"])[:MAX_NAME_CHARS]


def _groups(
    provider: ProviderConfig, access: Mapping[str, Any], id_claims: Mapping[str, Any]
) -> frozenset[str]:
    claim = provider.groups_claim
    raw = access.get(claim, id_claims.get(claim))
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        return frozenset()
    return frozenset(g for g in raw[:MAX_GROUPS] if isinstance(g, str))
