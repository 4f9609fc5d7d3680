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
from server.identity import admission
from server.identity import claims as claims_
from server.identity.clock import Clock
from server.identity.errors import (
    IdentityError,
    InsufficientScopeError,
    InvalidRequestError,
    InvalidTokenError,
    ProviderDisabledError,
    TokenExpiredError,
    UnknownIssuerError,
    UnknownKeyError,
)
from server.identity.identity import Identity
from server.identity.jwks import JwksCache, PublicKey
from server.identity.tokens import UnverifiedToken, peek

logger = logging.getLogger(__name__)

ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt", "jwt"})
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
_HASH_FOR_ALG = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
# What the key cache depends on: a provider edited only elsewhere keeps its cached keys.
KEY_FIELDS = frozenset(
    {
        "issuer",
        "jwks_min_ttl_seconds",
        "jwks_max_ttl_seconds",
        "jwks_default_ttl_seconds",
        "jwks_max_stale_seconds",
        "jwks_min_refresh_interval_seconds",
        "http_timeout_seconds",
    }
)


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
        self,
        claims: Mapping[str, Any],
        audience: str | None,
        what: str,
        *,
        issuer: str | None = None,
        require_sub: bool = True,
        require_exp: bool = True,
    ) -> None:
        """``iss`` exact (the provider's issuer unless given), ``aud`` contains ``audience``
        (unless ``None``: checked by the caller); ``sub``/``exp``/``iat`` required; nbf; every
        date between 1970 and 9999.

        Logout tokens may name only a session (``require_sub=False``) and need no ``exp``
        (``require_exp=False``); access tokens whose user claim is not ``sub`` need no ``sub``.
        """
        registry = JWTClaimsRegistry(
            now=lambda: int(self._clock.now()),
            leeway=self.provider.leeway_seconds,
            iss={"essential": True, "value": issuer or self.provider.issuer},
            sub={"essential": require_sub},
            aud={"essential": True, "values": [audience]} if audience is not None else {},
            exp={"essential": require_exp},
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

    def __init__(
        self,
        verifiers: Iterable[ProviderVerifier],
        http: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._http = http
        self._clock = clock
        self._install(list(verifiers))

    def _install(self, verifiers: list[ProviderVerifier]) -> None:
        # Replaced as a whole (one assignment each, no await between): a verification that is
        # under way keeps the provider it was routed to.
        self._verifiers = verifiers
        # Access tokens are routed by their issuer, which AD FS makes differ from the OIDC one.
        self._by_access_issuer = {v.provider.access_issuer: v for v in verifiers}
        self._by_issuer = {v.provider.issuer: v for v in verifiers}

    @classmethod
    def build(
        cls, providers: Iterable[ProviderConfig], http: httpx.AsyncClient, clock: Clock
    ) -> "TokenVerifier":
        return cls(
            (ProviderVerifier(p, JwksCache(p, http, clock), clock) for p in providers), http, clock
        )

    def replace(self, providers: Iterable[ProviderConfig]) -> None:
        """Verify with these providers from now on; a provider whose issuer and key settings are
        unchanged keeps its cached keys (and its discovery document)."""
        if self._http is None or self._clock is None:
            raise RuntimeError("a TokenVerifier made without build() cannot replace providers")
        current = {v.provider.id: v for v in self._verifiers}
        verifiers = []
        for provider in providers:
            old = current.get(provider.id)
            if old is not None and _same_keys(old.provider, provider):
                keys = old.keys
            else:
                keys = JwksCache(provider, self._http, self._clock)
            verifiers.append(ProviderVerifier(provider, keys, self._clock))
        self._install(verifiers)

    @property
    def providers(self) -> list[ProviderVerifier]:
        return list(self._verifiers)

    def provider_hint(self, access_token: object, id_token: object | None) -> str | None:
        """The provider an unverified token names by its ``iss`` (for counting refusals only:
        never a basis for trust)."""
        for token, table in ((access_token, self._by_access_issuer), (id_token, self._by_issuer)):
            try:
                issuer = peek(token, "token").claims.get("iss")
            except IdentityError:
                continue
            found = table.get(issuer) if isinstance(issuer, str) else None
            if found is not None:
                return found.provider.id
        return None

    def trial(self, provider: ProviderConfig) -> "TokenVerifier":
        """A verifier of ``provider`` alone, sharing its cached keys if their settings match."""
        if self._http is None or self._clock is None:
            raise RuntimeError("a TokenVerifier made without build() cannot make a trial")
        keys = self.cached_keys(provider) or JwksCache(provider, self._http, self._clock)
        return TokenVerifier(
            [ProviderVerifier(provider, keys, self._clock)], self._http, self._clock
        )

    def cached_keys(self, provider: ProviderConfig) -> JwksCache | None:
        """The key cache in use for this provider, if its key settings are those of ``provider``."""
        current = self.for_provider(provider.id)
        return (
            current.keys if current is not None and _same_keys(current.provider, provider) else None
        )

    def for_provider(self, provider_id: str) -> ProviderVerifier | None:
        return next((v for v in self._verifiers if v.provider.id == provider_id), None)

    async def verify(
        self,
        access_token: object,
        id_token: object | None,
        *,
        id_token_optional: bool = False,
        admit: bool = True,
    ) -> Identity:
        """Verify the access token (and the ID token) and return the identity they prove.

        With ``access_token`` ``None``, the ID token alone, for a provider whose ``mode`` is
        ``id_token_only``. ``admit=False`` skips the provider's admission rules (for the admin
        API, where the ``[admin]`` table decides, so that no rule locks the admins out).

        Raises:
            InvalidRequestError (invalid_request): a token the provider requires is missing.
            InvalidTokenError (invalid_token): any signature, claim or consistency failure.
            TokenExpiredError (token_expired), UnknownIssuerError (unknown_issuer),
            InsufficientScopeError (insufficient_scope), IdpUnavailableError (idp_unavailable),
            GroupsOverageError (groups_overage), AccessDeniedError (access_denied),
            ProviderDisabledError (provider_disabled).
        """
        if access_token is None:
            return await self._verify_id_token_only(id_token, admit)
        access = peek(access_token, "access token")
        verifier = self._route(self._by_access_issuer, access, "access token")
        provider = verifier.provider
        if provider.mode == "id_token_only":
            raise InvalidTokenError("access token: this provider signs in with ID tokens only")
        claims = await self._verify_access_token(verifier, access)
        user = claims_.subject(claims, provider.subject_claim, "access token")
        granted = claims_.scopes(claims)
        missing = set(provider.required_scopes) - granted
        if missing:
            raise InsufficientScopeError(f"access token lacks scopes {sorted(missing)}")
        id_claims: Mapping[str, Any] = {}
        if id_token is not None:
            id_claims = await self._verify_id_token(verifier, id_token, access, user)
        elif provider.require_id_token and not id_token_optional:
            raise InvalidRequestError("id_token missing")
        claims_.check_groups_overage(provider, claims, id_claims)
        identity = claims_.identity(provider, user, claims, id_claims, granted)
        if admit:
            admission.check(provider.admission, identity, id_claims, claims)
        return identity

    async def _verify_access_token(
        self, verifier: ProviderVerifier, access: UnverifiedToken
    ) -> dict[str, Any]:
        provider = verifier.provider
        if access.typ is not None and access.typ not in ACCESS_TOKEN_TYPES:
            raise InvalidTokenError(f"access token: typ {access.typ!r} is not an access token type")
        claims = await verifier.verify_jws(access, "access token")
        by_aud = provider.audience_claim == "aud"
        audience = provider.audience if by_aud else None
        verifier.check_claims(
            claims,
            audience,
            "access token",
            issuer=provider.access_issuer,
            require_sub=provider.subject_claim == "sub",
        )
        if not by_aud:
            claims_.check_audience(provider, claims)
        claims_.check_access_token_shape(provider, claims)
        return claims

    async def _verify_id_token_only(self, id_token: object | None, admit: bool) -> Identity:
        if id_token is None:
            raise InvalidRequestError("no access_token and no id_token")
        token = peek(id_token, "id token")
        verifier = self._route(self._by_issuer, token, "id token")
        provider = verifier.provider
        if provider.mode != "id_token_only":
            raise InvalidRequestError("access_token missing")
        claims = await self._checked_id_token(verifier, token)
        user = claims_.subject(claims, provider.id_token_subject_claim, "id token")
        claims_.check_groups_overage(provider, claims)
        identity = claims_.identity(provider, user, claims, {}, frozenset())
        if admit:
            admission.check(provider.admission, identity, claims)
        return identity

    def _route(
        self, table: Mapping[str, ProviderVerifier], token: UnverifiedToken, what: str
    ) -> ProviderVerifier:
        issuer = token.claims.get("iss")
        verifier = table.get(issuer) if isinstance(issuer, str) else None
        if verifier is None:
            raise UnknownIssuerError(f"{what}: issuer is not configured")
        if not verifier.provider.enabled:
            raise ProviderDisabledError(f"{what}: provider {verifier.provider.id} is disabled")
        return verifier

    async def _verify_id_token(
        self, verifier: ProviderVerifier, id_token: object, access: UnverifiedToken, user: str
    ) -> dict[str, Any]:
        token = peek(id_token, "id token")
        if token.raw == access.raw:
            raise InvalidTokenError("the same token was sent as access token and ID token")
        claims = await self._checked_id_token(verifier, token)
        provider = verifier.provider
        paired = claims_.subject(claims, provider.id_token_subject_claim, "id token")
        if paired != user:
            raise InvalidTokenError("id token and access token name different subjects")
        at_hash = claims.get("at_hash")
        if at_hash is not None and at_hash != _at_hash(access.raw, token.alg):
            raise InvalidTokenError("id token: at_hash does not match the access token")
        return claims

    async def _checked_id_token(
        self, verifier: ProviderVerifier, token: UnverifiedToken
    ) -> dict[str, Any]:
        """OIDC Core 3.1.3.7: signature, ``iss``, ``aud`` contains our client, ``azp``, dates."""
        if token.typ is not None and token.typ not in {"jwt", "id_token+jwt"}:
            raise InvalidTokenError(f"id token: typ {token.typ!r}")
        if token.claims.get("iss") != verifier.provider.issuer:
            raise InvalidTokenError("id token: issuer is not the provider's")
        claims = await verifier.verify_jws(token, "id token")
        client_id = verifier.provider.client_id
        verifier.check_claims(claims, client_id, "id token")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != client_id:
            raise InvalidTokenError("id token: azp is not our client")
        claims_.check_id_token_shape(verifier.provider, claims)
        return claims


def _same_keys(old: ProviderConfig, new: ProviderConfig) -> bool:
    return all(getattr(old, name) == getattr(new, name) for name in KEY_FIELDS)


def _check_dates(claims: Mapping[str, Any], what: str) -> None:
    # A valid NumericDate can still be too large for a float or a datetime (10**400, year 10000).
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if value is not None and not 0 <= value <= MAX_NUMERIC_DATE:
            raise InvalidTokenError(f"{what}: {name} is out of range")


def _at_hash(access_token: str, alg: str) -> str:
    digest = _HASH_FOR_ALG.get(alg[-3:], hashlib.sha512)(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")
