"""Previews for admins: what a provider's settings make of sample tokens or of bare claims.

Nothing here is stored, cached beyond the provider's key cache, or logged.
"""

from collections.abc import Mapping
from typing import Any

from server.config import ProviderConfig
from server.identity import admission
from server.identity import claims as claims_
from server.identity.errors import AccessDeniedError
from server.identity.identity import Identity
from server.identity.tokens import peek
from server.identity.verifier import TokenVerifier

Outcome = tuple[Identity, AccessDeniedError | None]


def preview_claims(provider: ProviderConfig, claims: Mapping[str, Any]) -> Outcome:
    """The identity a bare claims object (shaped as an ID token's) maps to, and whether the
    admission rules let it in. Nothing is verified: the admin typed these claims.

    Raises:
        InvalidTokenError (invalid_token): no usable subject. GroupsOverageError.
    """
    user = claims_.subject(claims, provider.id_token_subject_claim, "claims")
    claims_.check_groups_overage(provider, claims)
    dated = {**claims, "exp": _number(claims.get("exp")), "iat": _number(claims.get("iat"))}
    identity = claims_.identity(provider, user, dated, {}, claims_.scopes(claims))
    return identity, _refusal(provider, identity, claims)


async def preview_tokens(
    verifier: TokenVerifier,
    provider: ProviderConfig,
    access_token: object | None,
    id_token: object | None,
) -> Outcome:
    """Verify sample tokens exactly as at connect, against this provider alone and as if it
    were enabled; then ask its admission rules separately.

    Raises:
        IdentityError: the verification's refusal, with its code.
    """
    trial = provider.model_copy(update={"enabled": True})
    identity = await verifier.trial(trial).verify(access_token, id_token, admit=False)
    # Verified above: these are the claims the signatures cover.
    sources = [peek(t, "token").claims for t in (id_token, access_token) if t is not None]
    return identity, _refusal(provider, identity, *sources)


def _refusal(
    provider: ProviderConfig, identity: Identity, *sources: Mapping[str, Any]
) -> AccessDeniedError | None:
    try:
        admission.check(provider.admission, identity, *sources)
    except AccessDeniedError as exc:
        return exc
    return None


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
