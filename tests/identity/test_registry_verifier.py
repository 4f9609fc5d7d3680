"""What the runtime registry asks of the verifier: provider swaps that keep key caches, disabled
providers, admission rules, ``admit=False``, and the admin's previews."""

from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from server.identity import (
    IdentityError,
    TokenVerifier,
    preview_claims,
    preview_tokens,
)
from tests.identity.conftest import provider_config, refused
from tests.support.clock import FakeClock
from tests.support.fake_idp import FakeIdP


def keys_of(verifier: TokenVerifier, provider_id: str = "fake") -> object:
    current = verifier.for_provider(provider_id)
    assert current is not None
    return current.keys


async def refused_tokens(verifier: TokenVerifier, tokens: dict[str, str]) -> str:
    return await refused(verifier, tokens["access_token"], tokens["id_token"])


async def admitted(verifier: TokenVerifier, idp: FakeIdP, **claims: Any) -> str:
    tokens = idp.tokens(**claims)
    return (await verifier.verify(tokens["access_token"], tokens["id_token"])).subject


# -- replace -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Renamed"},
        {"display": {"label": "Fake IdP", "order": 5, "hidden": True}},
        {"admission": {"required_groups": ["staff"]}},
    ],
)
async def test_replace_keeps_the_key_cache_when_no_key_setting_changes(
    verifier: TokenVerifier, idp: FakeIdP, change: dict[str, Any]
) -> None:
    await admitted(verifier, idp)
    before = keys_of(verifier)
    verifier.replace([provider_config(idp, **change)])
    assert keys_of(verifier) is before
    assert await admitted(verifier, idp, sub="bob") == "bob"
    assert (idp.discovery_fetches, idp.jwks_fetches) == (1, 1)
    current = verifier.for_provider("fake")
    assert current is not None
    assert current.provider == provider_config(idp, **change)  # the new settings are in use


@pytest.mark.parametrize(
    "change",
    [
        {"jwks_min_ttl_seconds": 10},
        {"jwks_max_ttl_seconds": 3600},
        {"jwks_default_ttl_seconds": 120},
        {"jwks_max_stale_seconds": 60},
        {"jwks_min_refresh_interval_seconds": 5},
        {"http_timeout_seconds": 2},
    ],
)
async def test_replace_makes_a_new_key_cache_when_a_key_setting_changes(
    verifier: TokenVerifier, idp: FakeIdP, change: dict[str, Any]
) -> None:
    await admitted(verifier, idp)
    before = keys_of(verifier)
    verifier.replace([provider_config(idp, **change)])
    assert keys_of(verifier) is not before
    await admitted(verifier, idp)
    assert idp.jwks_fetches == 2  # the new cache loads the keys again


async def test_replace_with_another_issuer_routes_by_the_new_one(
    idp: FakeIdP, clock: FakeClock
) -> None:
    moved = FakeIdP("https://moved.test", now=clock.now)
    by_host = {"idp.test": idp, "moved.test": moved}
    transport = httpx.MockTransport(lambda request: by_host[request.url.host].handle(request))
    async with httpx.AsyncClient(transport=transport) as http:
        verifier = TokenVerifier.build([provider_config(idp)], http, clock)
        await admitted(verifier, idp)
        before = keys_of(verifier)
        verifier.replace([provider_config(idp, issuer=moved.issuer)])
        assert keys_of(verifier) is not before
        assert await refused_tokens(verifier, idp.tokens()) == "unknown_issuer"
        assert await admitted(verifier, moved) == "alice"
        verifier.replace([])
        assert await refused_tokens(verifier, moved.tokens()) == "unknown_issuer"


async def test_cached_keys_and_trial_share_the_cache_only_for_equal_key_settings(
    verifier: TokenVerifier, idp: FakeIdP
) -> None:
    await admitted(verifier, idp)
    relabelled = provider_config(idp, display={"label": "x"})
    assert verifier.cached_keys(relabelled) is keys_of(verifier)
    assert verifier.cached_keys(provider_config(idp, jwks_max_stale_seconds=1)) is None
    tokens = idp.tokens(sub="bob")
    trial = verifier.trial(relabelled)
    assert (await trial.verify(tokens["access_token"], tokens["id_token"])).subject == "bob"
    assert idp.jwks_fetches == 1


# -- disabled providers --------------------------------------------------------------------------


async def test_tokens_of_a_disabled_provider_are_refused_with_provider_disabled(
    verifier: TokenVerifier, idp: FakeIdP
) -> None:
    assert await admitted(verifier, idp) == "alice"
    verifier.replace([provider_config(idp, enabled=False)])
    assert await refused_tokens(verifier, idp.tokens()) == "provider_disabled"
    assert await refused(verifier, idp.access_token(), None) == "provider_disabled"
    verifier.replace([provider_config(idp)])
    assert await admitted(verifier, idp) == "alice"


async def test_id_tokens_of_a_disabled_id_token_only_provider_are_refused(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    only = provider_config(idp, mode="id_token_only", audience="", required_scopes=[])
    verifier = TokenVerifier.build([only.model_copy(update={"enabled": False})], http, clock)
    assert await refused(verifier, None, idp.id_token()) == "provider_disabled"


# -- admission -----------------------------------------------------------------------------------

GROUPS = {"required_groups": ["eng", "staff"]}
DOMAINS = {"allowed_email_domains": ["example.com"]}
EMAIL = "alice@example.com"
TENANT = {"required_claims": {"tenant": "acme"}}
ROLES = {"required_claims": {"roles": "chat"}}
MFA = {"required_claims": {"mfa": "true"}}
REALM = {"required_claims": {"realm_access.roles": "chat"}}
BOTH = {**GROUPS, **DOMAINS}


@pytest.mark.parametrize(
    ("rules", "claims", "expected"),
    [
        (GROUPS, {"groups": ["staff"]}, None),  # any one of the groups
        (GROUPS, {"groups": ["ops", "eng"]}, None),
        (GROUPS, {"groups": ["ops"]}, "access_denied"),
        (GROUPS, {"groups": ["Staff"]}, "access_denied"),
        (GROUPS, {"groups": None}, "access_denied"),
        (DOMAINS, {"email": EMAIL, "email_verified": True}, None),
        (DOMAINS, {"email": "Alice@Example.COM", "email_verified": True}, None),
        (DOMAINS, {"email": EMAIL, "email_verified": False}, "access_denied"),
        (DOMAINS, {"email": EMAIL}, "access_denied"),  # email_verified missing
        (DOMAINS, {"email": EMAIL, "email_verified": "true"}, "access_denied"),
        (DOMAINS, {"email": "alice@evil.com", "email_verified": True}, "access_denied"),
        (DOMAINS, {"email": "alice@sub.example.com", "email_verified": True}, "access_denied"),
        (DOMAINS, {}, "access_denied"),
        (TENANT, {"tenant": "acme"}, None),
        (TENANT, {"tenant": "acme-evil"}, "access_denied"),
        (TENANT, {}, "access_denied"),
        (ROLES, {"roles": ["admin", "chat"]}, None),
        (ROLES, {"roles": ["chatter"]}, "access_denied"),
        (MFA, {"mfa": True}, None),
        (MFA, {"mfa": False}, "access_denied"),
        (MFA, {"mfa": 1}, "access_denied"),
        (REALM, {"realm_access": {"roles": ["chat"]}}, None),
        (REALM, {"realm_access": {"roles": ["x"]}}, "access_denied"),
        (REALM, {"roles": ["chat"]}, "access_denied"),
        (BOTH, {"groups": ["staff"], "email": EMAIL}, "access_denied"),  # all rules
        (BOTH, {"groups": ["staff"], "email": EMAIL, "email_verified": True}, None),
    ],
)
async def test_admission_rules_decide_who_is_let_in(
    idp: FakeIdP,
    http: httpx.AsyncClient,
    clock: FakeClock,
    rules: dict[str, Any],
    claims: dict[str, Any],
    expected: str | None,
) -> None:
    verifier = TokenVerifier.build([provider_config(idp, admission=rules)], http, clock)
    tokens = idp.tokens(**claims)
    if expected is None:
        identity = await verifier.verify(tokens["access_token"], tokens["id_token"])
        assert identity.subject == "alice"
    else:
        assert await refused_tokens(verifier, tokens) == expected


@pytest.mark.parametrize("mode", ["access_token", "id_token_only"])
async def test_verify_without_admit_skips_the_admission_rules(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock, mode: str
) -> None:
    rules = {"required_groups": ["nobody-is-in-this"]}
    if mode == "access_token":
        provider = provider_config(idp, admission=rules)
        access: str | None = idp.access_token()
    else:
        provider = provider_config(idp, admission=rules, mode=mode, audience="", required_scopes=[])
        access = None
    verifier = TokenVerifier.build([provider], http, clock)
    id_token = idp.id_token()
    assert (await verifier.verify(access, id_token, admit=False)).subject == "alice"
    assert await refused(verifier, access, id_token) == "access_denied"


# -- previews ------------------------------------------------------------------------------------


def test_preview_claims_returns_the_identity_and_the_admission_refusal(idp: FakeIdP) -> None:
    provider = provider_config(idp, admission={"required_groups": ["staff"]})
    claims = {"sub": "bob", "name": "Bob", "groups": ["eng"], "email": "b@x.com"}
    identity, refusal = preview_claims(provider, {**claims, "email_verified": True})
    assert (identity.subject, identity.name, identity.groups) == ("bob", "Bob", frozenset({"eng"}))
    assert identity.verified_email == "b@x.com"
    assert refusal is not None
    assert refusal.code == "access_denied"
    assert "staff" in refusal.reason

    identity, refusal = preview_claims(provider, {"sub": "alice", "groups": ["staff"]})
    assert (identity.subject, refusal) == ("alice", None)


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"name": "nobody"}, "invalid_token"),  # no subject
        ({"sub": ""}, "invalid_token"),
        ({"sub": "x" * 256}, "invalid_token"),
        ({"sub": "alice", "hasgroups": True}, "groups_overage"),
    ],
)
def test_preview_claims_raises_what_no_rule_can_decide(
    idp: FakeIdP, claims: dict[str, Any], code: str
) -> None:
    with pytest.raises(IdentityError) as info:
        preview_claims(provider_config(idp), claims)
    assert info.value.code == code


async def test_preview_tokens_returns_the_admission_refusal_instead_of_raising(
    verifier: TokenVerifier, idp: FakeIdP
) -> None:
    await admitted(verifier, idp)
    provider = provider_config(idp, admission={"required_claims": {"tenant": "acme"}})
    outsider = idp.tokens(sub="bob", tenant="other")
    identity, refusal = await preview_tokens(
        verifier, provider, outsider["access_token"], outsider["id_token"]
    )
    assert identity.subject == "bob"
    assert refusal is not None
    assert refusal.code == "access_denied"

    member = idp.tokens(sub="carol", tenant="acme")
    identity, refusal = await preview_tokens(
        verifier, provider, member["access_token"], member["id_token"]
    )
    assert (identity.subject, refusal) == ("carol", None)
    assert idp.jwks_fetches == 1  # the preview used the provider's cached keys


async def test_preview_tokens_raises_a_bad_signature_as_invalid_token(
    verifier: TokenVerifier, idp: FakeIdP
) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "use": "sig", "alg": "RS256"})
    forged = idp.sign(idp.claims(), key=impostor, typ="at+jwt")
    with pytest.raises(IdentityError) as info:
        await preview_tokens(verifier, provider_config(idp), forged, idp.id_token())
    assert info.value.code == "invalid_token"


async def test_a_disabled_provider_still_previews(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    disabled = provider_config(idp, enabled=False)
    verifier = TokenVerifier.build([disabled], http, clock)
    tokens = idp.tokens()
    assert await refused_tokens(verifier, tokens) == "provider_disabled"
    identity, refusal = await preview_tokens(
        verifier, disabled, tokens["access_token"], tokens["id_token"]
    )
    assert (identity.provider_id, identity.subject, refusal) == ("fake", "alice", None)
    assert verifier.for_provider("fake") is not None
    assert (
        await refused_tokens(verifier, tokens) == "provider_disabled"
    )  # the preview changed nothing
