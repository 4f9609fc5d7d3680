"""Per-provider claim rules: the four vendor refusals of issue 9 and the Google token confusion.

Each test names the vendor behaviour it stands for; the vendor-shaped suite is tests/identity/vendors.
"""

from typing import Any

import httpx
import pytest

from server.config import ProviderConfig, parse_settings
from server.errors import ConfigError
from server.identity import Identity, TokenVerifier
from tests.identity.conftest import provider_config, refused
from tests.support.clock import FakeClock
from tests.support.fake_idp import FakeIdP


def verifier_for(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock, **rules: Any
) -> TokenVerifier:
    return TokenVerifier.build([provider_config(idp, **rules)], http, clock)


async def test_entra_two_app_registrations_pair_the_tokens_on_oid(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    access = idp.access_token(sub="pairwise-api", oid="00000000-0000-0000-0000-0000000000a1")
    id_token = idp.id_token(sub="pairwise-spa", oid="00000000-0000-0000-0000-0000000000a1")
    default = verifier_for(idp, http, clock)
    assert await refused(default, access, id_token) == "invalid_token"  # different `sub`s
    entra = verifier_for(idp, http, clock, subject_claim="oid", id_token_subject_claim="oid")
    identity = await entra.verify(access, id_token)
    assert identity.subject == "00000000-0000-0000-0000-0000000000a1"
    other_user = idp.id_token(sub="pairwise-spa", oid="00000000-0000-0000-0000-0000000000b2")
    assert await refused(entra, access, other_user) == "invalid_token"


async def test_okta_pairs_the_id_token_sub_with_the_access_token_uid(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    access = idp.access_token(sub="joe.user@example.com", uid="00uid4BxXw6I6TV4m0g3")
    id_token = idp.id_token(sub="00uid4BxXw6I6TV4m0g3")
    assert await refused(verifier_for(idp, http, clock), access, id_token) == "invalid_token"
    okta = verifier_for(idp, http, clock, subject_claim="uid")
    assert (await okta.verify(access, id_token)).subject == "00uid4BxXw6I6TV4m0g3"


async def test_a_nonce_in_the_access_token_is_accepted_only_where_the_provider_declares_it(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    access = idp.access_token(nonce="n-0S6", typ="JWT")  # Keycloak <= 24 (keycloak#26893)
    assert await refused(verifier_for(idp, http, clock), access, idp.id_token()) == "invalid_token"
    keycloak = verifier_for(idp, http, clock, allow_nonce_in_access_token=True)
    assert (await keycloak.verify(access, idp.id_token())).subject == "alice"
    with_at_hash = idp.access_token(nonce="n-0S6", at_hash="x")
    assert await refused(keycloak, with_at_hash, idp.id_token()) == "invalid_token"


async def test_adfs_access_tokens_carry_the_access_token_issuer(clock: FakeClock) -> None:
    idp = FakeIdP("https://adfs.example.com/adfs", now=clock.now)
    trust = "https://adfs.example.com/adfs/services/trust"  # discovery's access_token_issuer
    access = idp.access_token(iss=trust)
    async with httpx.AsyncClient(transport=idp.transport()) as http:
        default = verifier_for(idp, http, clock)
        assert await refused(default, access, idp.id_token()) == "unknown_issuer"
        adfs = verifier_for(idp, http, clock, access_token_issuer=trust)
        identity = await adfs.verify(access, idp.id_token())
        assert identity.issuer == "https://adfs.example.com/adfs"  # users keep the OIDC issuer
        # Each token keeps its own issuer: an access token with the OIDC issuer is refused.
        assert await refused(adfs, idp.access_token(), idp.id_token()) == "unknown_issuer"
        assert await refused(adfs, access, idp.id_token(iss=trust)) == "invalid_token"


def test_an_audience_equal_to_the_client_id_is_refused_at_start_up() -> None:
    # Google's README setup before: an ID token then passed as an access token.
    provider = {
        "id": "g",
        "issuer": "https://accounts.google.com",
        "client_id": "c",
        "audience": "c",
    }
    with pytest.raises(ConfigError) as info:
        parse_settings({"providers": [provider]})
    assert "audience equals client_id: set required_scopes" in str(info.value)


async def test_entra_one_app_registration_tells_the_tokens_apart_by_their_scope(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    # One registration: the API is the SPA's own app, so both tokens have aud = its client id.
    entra = verifier_for(idp, http, clock, audience=idp.client_id, required_scopes=["chat.write"])
    access = idp.access_token(aud=idp.client_id, scp="chat.write", scope=None, typ="JWT")
    assert (await entra.verify(access, idp.id_token())).subject == "alice"
    id_as_access = idp.id_token(nonce=None)  # even without its nonce
    assert await refused(entra, id_as_access, idp.id_token()) == "insufficient_scope"


async def test_id_token_only_mode_takes_the_id_token_alone_and_never_in_the_access_slot(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    google = TokenVerifier.build(
        [provider_config(idp, mode="id_token_only", audience="", required_scopes=[])], http, clock
    )
    identity: Identity = await google.verify(None, idp.id_token(groups=None))
    assert identity.subject == "alice"
    assert identity.scopes == frozenset()
    assert await refused(google, idp.id_token(), idp.id_token()) == "invalid_token"
    assert await refused(google, idp.access_token(), idp.id_token()) == "invalid_token"


async def test_an_id_token_alone_is_refused_by_a_provider_that_takes_access_tokens(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    assert await refused(verifier, None, idp.id_token()) == "invalid_request"


@pytest.mark.parametrize(
    ("groups_claim", "claims", "groups"),
    [
        ("realm_access.roles", {"realm_access": {"roles": ["chat-user"]}}, {"chat-user"}),
        (
            "resource_access.chat-api.roles",
            {"resource_access": {"chat-api": {"roles": ["admin"]}}},
            {"admin"},
        ),
        ("https://chat.example.com/groups", {"https://chat.example.com/groups": ["eng"]}, {"eng"}),
        ("cognito:groups", {"cognito:groups": ["eng", 7]}, {"eng"}),
        ("groups", {"groups": "/engineering"}, {"/engineering"}),
        ("realm_access.roles", {"realm_access": "not an object"}, set()),
    ],
)
async def test_groups_come_from_the_configured_claim_path(
    idp: FakeIdP,
    http: httpx.AsyncClient,
    clock: FakeClock,
    groups_claim: str,
    claims: dict[str, Any],
    groups: set[str],
) -> None:
    verifier = verifier_for(idp, http, clock, groups_claim=groups_claim)
    access = idp.access_token(**{"groups": None, **claims})
    identity = await verifier.verify(access, idp.id_token())
    assert identity.groups == groups


async def test_the_name_comes_from_the_configured_claim_path(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    verifier = verifier_for(idp, http, clock, name_claim="profile.display")
    access = idp.access_token(name=None, profile={"display": "Al"})
    assert (await verifier.verify(access, idp.id_token(name=None))).name == "Al"


@pytest.mark.parametrize(
    "overage",
    [{"hasgroups": True}, {"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {}}}],
)
async def test_an_entra_group_overage_is_refused_never_read_as_no_groups(
    idp: FakeIdP, verifier: TokenVerifier, overage: dict[str, Any]
) -> None:
    access = idp.access_token(groups=None, **overage)
    assert await refused(verifier, access, idp.id_token(groups=None)) == "groups_overage"


async def test_cognito_access_tokens_name_the_client_in_client_id_not_aud(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    cognito = verifier_for(
        idp,
        http,
        clock,
        audience=idp.client_id,
        audience_claim="client_id",
        access_token_required_claims={"token_use": "access"},
    )
    access = idp.access_token(aud=None, token_use="access", typ=None)
    assert (await cognito.verify(access, idp.id_token(token_use="id"))).subject == "alice"
    id_as_access = idp.id_token(token_use="id", nonce=None)
    assert await refused(cognito, id_as_access, idp.id_token()) == "invalid_token"
    other_client = idp.access_token(aud=None, token_use="access", client_id="other", typ=None)
    assert await refused(cognito, other_client, idp.id_token()) == "invalid_token"


async def test_the_same_token_in_both_slots_is_refused(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = idp.access_token(aud=[idp.audience, idp.client_id])
    assert await refused(verifier_for(idp, http, clock), token, token) == "invalid_token"


def test_an_issuer_shared_by_two_providers_is_refused_also_as_access_token_issuer() -> None:
    providers = [
        {"id": "a", "issuer": "https://a.test", "client_id": "c", "audience": "api"},
        {
            "id": "b",
            "issuer": "https://b.test",
            "client_id": "c",
            "audience": "api",
            "access_token_issuer": "https://a.test",
        },
    ]
    with pytest.raises(ConfigError):
        parse_settings({"providers": providers})


def test_id_token_only_mode_needs_no_audience_and_refuses_required_scopes() -> None:
    base = {"id": "g", "issuer": "https://accounts.google.com", "client_id": "c"}
    assert ProviderConfig.model_validate({**base, "mode": "id_token_only"}).audience == ""
    with pytest.raises(ValueError, match="required_scopes"):
        ProviderConfig.model_validate({**base, "mode": "id_token_only", "required_scopes": ["x"]})


async def test_a_claim_path_reaches_keys_that_contain_dots(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    # Keycloak client roles of a client named "chat.api".
    verifier = verifier_for(idp, http, clock, groups_claim="resource_access.chat.api.roles")
    roles: dict[str, Any] = {
        "resource_access": {"chat.api": {"roles": ["writer"]}, "chat": {"x": 1}}
    }
    access = idp.access_token(groups=None, **roles)
    assert (await verifier.verify(access, idp.id_token())).groups == {"writer"}


async def test_id_token_required_claims_restrict_who_signs_in(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    google = TokenVerifier.build(
        [
            provider_config(
                idp,
                mode="id_token_only",
                required_scopes=[],
                audience="",
                id_token_required_claims={"hd": "example.com"},
            )
        ],
        http,
        clock,
    )
    assert (await google.verify(None, idp.id_token(hd="example.com"))).subject == "alice"
    assert await refused(google, None, idp.id_token(hd="gmail.example")) == "invalid_token"
    assert await refused(google, None, idp.id_token()) == "invalid_token"


async def test_session_claim_names_the_provider_session_or_none(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    # AD FS puts the user's Windows SID in `sid`: a session logout would end all their sessions.
    access, id_token = idp.access_token(sid="S-1-5-21"), idp.id_token(sid="S-1-5-21")
    assert (await verifier_for(idp, http, clock).verify(access, id_token)).session_id == "S-1-5-21"
    adfs = verifier_for(idp, http, clock, session_claim="")
    assert (await adfs.verify(access, id_token)).session_id is None


def test_access_token_keys_are_refused_in_id_token_only_mode() -> None:
    base = {"id": "g", "issuer": "https://accounts.google.com", "client_id": "c"}
    for key, value in [("subject_claim", "oid"), ("audience", "api"), ("audience_claim", "x")]:
        with pytest.raises(ValueError, match="apply to access tokens"):
            ProviderConfig.model_validate({**base, "mode": "id_token_only", key: value})


def test_the_access_token_issuer_is_compared_never_fetched_so_http_is_allowed() -> None:
    adfs = ProviderConfig.model_validate(
        {
            "id": "adfs",
            "issuer": "https://adfs.example.com/adfs",
            "access_token_issuer": "http://adfs.example.com/adfs/services/trust",
            "client_id": "c",
            "audience": "microsoft:identityserver:api",
        }
    )
    assert adfs.access_issuer == "http://adfs.example.com/adfs/services/trust"
