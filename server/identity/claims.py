"""Claim rules: what a provider's verified claims say about the user, per the provider's config.

Vendors disagree on which claim names the user in each token (Entra ID pairs on ``oid``, Okta's
access token carries the ID token's ``sub`` as ``uid``), where groups live (Keycloak's
``realm_access.roles``, Auth0's namespaced claims, Cognito's ``cognito:groups``) and what an
access token looks like. Each rule here reads the provider's settings; none guesses.
"""

from collections.abc import Mapping
from typing import Any

from server.config import ProviderConfig
from server.identity.errors import GroupsOverageError, InvalidTokenError
from server.identity.identity import Identity

MAX_ID_CHARS = 255  # `sub` and `sid`, as the database stores them
MAX_NAME_CHARS = 200
MAX_GROUPS = 500
Claims = Mapping[str, Any]


def claim(claims: Claims, path: str) -> Any:
    """A claim by name, else by dot-separated path (``realm_access.roles``); ``None`` if absent.

    At each level a whole key is tried before splitting, so names with dots in them work as they
    are: namespaced claims (``https://chat.example.com/groups``) and Keycloak client ids
    (``resource_access.chat.api.roles``).
    """
    if path in claims:
        return claims[path]
    for key, value in claims.items():
        if isinstance(key, str) and path.startswith(key + ".") and isinstance(value, Mapping):
            found = claim(value, path[len(key) + 1 :])
            if found is not None:
                return found
    return None


def subject(claims: Claims, path: str, what: str) -> str:
    """The user's identifier in one token.

    Raises:
        InvalidTokenError (invalid_token): absent, not a non-empty string, or over 255 characters.
    """
    value = claim(claims, path)
    if not isinstance(value, str) or not value:
        raise InvalidTokenError(f"{what}: no {path!r} claim naming the user")
    return bounded(path, value)


def bounded(name: str, value: str) -> str:
    # OIDC Core caps `sub` at 255 ASCII characters; `sid` has no cap there, but it is stored with
    # every message and 255 is more than any provider we know uses. Longer is refused at connect,
    # not found out at the first message.
    if len(value) > MAX_ID_CHARS:
        raise InvalidTokenError(f"{name} longer than {MAX_ID_CHARS} characters")
    return value


def check_access_token_shape(provider: ProviderConfig, claims: Claims) -> None:
    """Refuse what an access token of this provider never carries, and require what it always does.

    Raises:
        InvalidTokenError (invalid_token): ID-token claims, or a required claim missing or different.
    """
    # An ID token is never an access token, whatever its audience says (RFC 9068 §4, RFC 8725
    # §3.11). at_hash/c_hash only ever bind an ID token to other artefacts; nonce also appears in
    # the access tokens of Keycloak <= 24 (keycloak#26893), so that provider declares it.
    if "at_hash" in claims or "c_hash" in claims:
        raise InvalidTokenError("access token: carries ID token claims")
    if "nonce" in claims and not provider.allow_nonce_in_access_token:
        raise InvalidTokenError("access token: carries a nonce (an ID token?)")
    for name, expected in provider.access_token_required_claims.items():
        if claims.get(name) != expected:
            raise InvalidTokenError(f"access token: claim {name!r} is not {expected!r}")


def check_id_token_shape(provider: ProviderConfig, claims: Claims) -> None:
    """The ID token carries the provider's ``id_token_required_claims`` (PingAM's
    ``tokenName``, Keycloak's ``typ``, Google Workspace's ``hd``).

    Raises:
        InvalidTokenError (invalid_token): a required claim is missing or different.
    """
    for name, expected in provider.id_token_required_claims.items():
        if claims.get(name) != expected:
            raise InvalidTokenError(f"id token: claim {name!r} is not {expected!r}")


def check_audience(provider: ProviderConfig, claims: Claims) -> None:
    """The access token's ``audience_claim`` names our API (Cognito: ``client_id``, not ``aud``).

    Raises:
        InvalidTokenError (invalid_token): it does not.
    """
    value = claims.get(provider.audience_claim)
    values = value if isinstance(value, list) else [value]
    if provider.audience not in values:
        raise InvalidTokenError(f"access token: {provider.audience_claim} is not our API")


def check_groups_overage(provider: ProviderConfig, *sources: Claims) -> None:
    """Entra ID leaves ``groups`` out past 200 groups and says so (``_claim_names``/``hasgroups``).

    Treating that user as in no group would silently hide rooms; it is refused instead.

    Raises:
        GroupsOverageError (groups_overage): the token says its groups are elsewhere.
    """
    name = provider.groups_claim
    for claims in sources:
        if claim(claims, name) is not None:
            return
    for claims in sources:
        names = claims.get("_claim_names")
        if claims.get("hasgroups") is True or (isinstance(names, Mapping) and name in names):
            raise GroupsOverageError(f"{name}: the token says the user's groups are elsewhere")


# Every socket keeps its identity's scopes and groups; most sockets of a provider have the same
# few sets. One shared object per distinct set (up to a bound) instead of a copy per socket saves
# about 0.4 KB per socket (a frozenset and the strings the token's JSON gave it).
_SHARED_SETS_MAX = 4096
_shared_sets: dict[frozenset[str], frozenset[str]] = {}


def shared(names: frozenset[str]) -> frozenset[str]:
    """``names``, or the equal set already held: equal sets are one object."""
    found = _shared_sets.get(names)
    if found is not None:
        return found
    if len(_shared_sets) < _SHARED_SETS_MAX:
        _shared_sets[names] = names
    return names


def scopes(claims: Claims) -> frozenset[str]:
    raw = claims.get("scope", claims.get("scp"))
    if isinstance(raw, str):
        return shared(frozenset(raw.split()))
    if isinstance(raw, list):
        return shared(frozenset(s for s in raw if isinstance(s, str)))
    return frozenset()


def identity(
    provider: ProviderConfig, user: str, primary: Claims, other: Claims, granted: frozenset[str]
) -> Identity:
    """The identity: ``primary`` is the token whose expiry bounds the session (the access token,
    or the ID token alone), ``other`` the second token (or empty)."""
    claim_name = provider.session_claim
    session_id = _first_str(claim_name, other, primary) if claim_name else None
    return Identity(
        provider_id=provider.id,
        issuer=provider.issuer,
        subject=user,
        name=_display_name(provider, user, other, primary),
        groups=_groups(provider, primary, other),
        scopes=granted,
        session_id=None if session_id is None else bounded("sid", session_id),
        expires_at=float(primary["exp"]),
        issued_at=float(primary["iat"]),
        verified_email=_verified_email(other, primary),
    )


def _verified_email(*sources: Claims) -> str | None:
    """The user's email, lower-cased, if the token carrying it says it is verified."""
    for source in sources:
        email = source.get("email")
        if isinstance(email, str) and "@" in email:
            return email.strip().lower()[:320] if source.get("email_verified") is True else None
    return None


def _first_str(path: str, *sources: Claims) -> str | None:
    for source in sources:
        value = claim(source, path)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _display_name(provider: ProviderConfig, user: str, *sources: Claims) -> str:
    for path in (provider.name_claim, "name", "preferred_username", "email"):
        name = _first_str(path, *sources)
        if name:
            return name.strip()[:MAX_NAME_CHARS]
    return user[:MAX_NAME_CHARS]


def _groups(provider: ProviderConfig, *sources: Claims) -> frozenset[str]:
    for source in sources:
        raw = claim(source, provider.groups_claim)
        if isinstance(raw, str):
            raw = [raw]
        if isinstance(raw, list):
            return shared(frozenset(g for g in raw[:MAX_GROUPS] if isinstance(g, str)))
    return frozenset()
