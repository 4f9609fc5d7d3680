"""Microsoft Entra ID (v2.0 endpoint), with one app registration and with two (SPA + API).

Sources for the shapes below:
- Access token claims and header: Microsoft's "Access token claims reference"
  https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference
  ("In v2.0 tokens, this value is always the client ID of the API"; ``sub`` "is a pairwise
  identifier that's unique to a particular application ID", use ``oid`` across applications;
  ``groups`` as object-id GUIDs, ``roles``, the overage ``_claim_names``/``_claim_sources`` and
  ``hasgroups``; ``x5t`` in the header of v1.0 tokens only), and the decoded v1.0 and v2.0
  sample tokens of "Access tokens in the Microsoft identity platform"
  https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens
- ID token claims: "ID token claims reference"
  https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference
- JWKS: the tenant keys document shown in "Access tokens…" (keys without ``alg``, ``kid`` = ``x5t``,
  ``x5c``, a per-key ``issuer``), as captured in redpanda-data/redpanda
  src/v/security/tests/jwt_test.cc, and a v1.0 token captured there (``iss``
  ``https://sts.windows.net/{tid}/``, ``aud`` ``api://…``, ``appid``, header with ``x5t``).
"""

import uuid
from typing import Any

from tests.identity.vendors.idp import Claims, VendorIdP, deploy, rsa_key
from tests.support.clock import FakeClock

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
SPA = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
API = "9b0c2d7e-4a1f-4c55-8e3b-71d2f0a6c5e9"
OID = "690222be-ff1a-4d56-abd1-7e4f7d38e474"
ENGINEERING = "93ddd2ac-2fbf-4ca4-9b16-1d6d1e8a9a3c"
ALL_STAFF = "2f1b6f6e-0c39-4b8f-a0a4-5b3a6c1d9e07"

TOML = f"""
[[providers]]
id = "entra"
name = "Contoso"
issuer = "{ISSUER}"
client_id = "{SPA}"
audience = "{API}"
subject_claim = "oid"
id_token_subject_claim = "oid"
required_scopes = ["chat.write"]
groups_claim = "groups"

[[rooms]]
slug = "general"
name = "General"

[[rooms]]
slug = "engineering"
name = "Engineering"
allowed_groups = ["{ENGINEERING}"]

[[rooms]]
slug = "moderators"
name = "Moderators"
allowed_groups = ["Chat.Moderator"]
"""

# One app registration: the SPA exposes the API itself, so both tokens have its id as audience.
TOML_ONE = TOML.replace(f'audience = "{API}"', f'audience = "{SPA}"')


def entra(clock: FakeClock | None = None) -> VendorIdP:
    per_key = {"issuer": ISSUER}
    return VendorIdP(
        issuer=ISSUER,
        jwks_uri=f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys",
        keys=[rsa_key(f"entra-{i}", alg=None, x5t_as_kid=True, extra=per_key) for i in (1, 2)],
        clock=clock or FakeClock(),
        discovery={
            "authorization_endpoint": f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/authorize",
            "token_endpoint": f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token",
            "subject_types_supported": ["pairwise"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
        },
    )


def _common(idp: VendorIdP) -> Claims:
    now = idp.now()
    return {
        "iss": ISSUER,
        "iat": now,
        "nbf": now,
        "exp": now + 3900,
        "aio": "AXQAi/8IAAAAtAaZLo3ChMif6KOnttRB7eBq4/DccQzjcJGxPYy",
        "name": "Abe Lincoln",
        "oid": OID,
        "preferred_username": "abeli@contoso.com",
        "rh": "I",
        "tid": TENANT,
        "uti": "fqiBqXLPj0eQa82S-IYFAA",
        "ver": "2.0",
    }


def access_claims(idp: VendorIdP, **changes: Any) -> Claims:
    """A v2.0 access token for our API (``accessTokenAcceptedVersion: 2``)."""
    claims: Claims = {
        **_common(idp),
        "aud": API,
        "azp": SPA,
        "azpacr": "0",
        "scp": "chat.write",
        "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",  # pairwise for the API app
        "groups": [ENGINEERING, ALL_STAFF],
        "roles": ["Chat.Moderator"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def id_claims(idp: VendorIdP, **changes: Any) -> Claims:
    claims: Claims = {
        **_common(idp),
        "aud": SPA,
        "nonce": "0194f2a8-3c1e-7b4a-9d2e-6f8a1c3b5d7e",  # MSAL.js always sends one
        "sid": "00152cbd-6d6f-4bba-8e2a-1c9a3a2e1b44",
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",  # pairwise for the SPA app
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign(idp: VendorIdP, claims: Claims) -> str:
    return idp.sign(claims, {"typ": "JWT"})


async def test_entra_two_app_registrations_connect_paired_on_oid() -> None:
    idp = entra()
    async with deploy(idp, TOML) as server:
        identity = await server.connect(sign(idp, access_claims(idp)), sign(idp, id_claims(idp)))
    assert identity.subject == OID
    assert identity.name == "Abe Lincoln"
    assert identity.groups == {ENGINEERING, ALL_STAFF}
    assert identity.scopes == {"chat.write"}
    assert identity.session_id == "00152cbd-6d6f-4bba-8e2a-1c9a3a2e1b44"
    assert server.rooms(identity) == ["engineering", "general"]


async def test_entra_app_roles_serve_as_groups() -> None:
    idp = entra()
    toml = TOML.replace('groups_claim = "groups"', 'groups_claim = "roles"')
    async with deploy(idp, toml) as server:
        identity = await server.connect(sign(idp, access_claims(idp)), sign(idp, id_claims(idp)))
    assert identity.groups == {"Chat.Moderator"}
    assert server.rooms(identity) == ["general", "moderators"]


async def test_entra_two_registrations_with_default_subject_claims_are_refused() -> None:
    # The pairwise `sub`s differ between the SPA's and the API's tokens (finding 1).
    idp = entra()
    toml = TOML.replace('subject_claim = "oid"\nid_token_subject_claim = "oid"\n', "")
    async with deploy(idp, toml) as server:
        access, id_token = sign(idp, access_claims(idp)), sign(idp, id_claims(idp))
        assert await server.refused(access, id_token) == "invalid_token"


async def test_entra_configured_with_an_api_uri_audience_refuses_every_token() -> None:
    # The README used to say `api://APP-ID`; a v2.0 token's `aud` is always the GUID.
    idp = entra()
    async with deploy(
        idp, TOML.replace(f'audience = "{API}"', f'audience = "api://{API}"')
    ) as server:
        access, id_token = sign(idp, access_claims(idp)), sign(idp, id_claims(idp))
        assert await server.refused(access, id_token) == "invalid_token"


async def test_entra_one_app_registration_connects() -> None:
    # One registration: the API's tokens and the SPA's share the app id, so `sub` is equal too.
    idp = entra()
    same = "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ"
    async with deploy(idp, TOML_ONE) as server:
        access = sign(idp, access_claims(idp, aud=SPA, sub=same))
        identity = await server.connect(access, sign(idp, id_claims(idp, sub=same)))
    assert identity.subject == OID
    assert server.rooms(identity) == ["engineering", "general"]


async def test_entra_one_registration_id_token_in_the_access_slot_is_refused() -> None:
    idp = entra()
    async with deploy(idp, TOML_ONE) as server:
        id_token = sign(idp, id_claims(idp))
        other = sign(idp, id_claims(idp, uti="Fc6mDLrCHU6ClPBxkSxkAA"))
        assert await server.refused(id_token, other) == "invalid_token"  # it carries a nonce
        without_nonce = sign(idp, id_claims(idp, nonce=None))
        assert await server.refused(without_nonce, other) == "insufficient_scope"  # no `scp`


async def test_entra_id_token_in_the_access_slot_is_refused() -> None:
    idp = entra()
    async with deploy(idp, TOML) as server:
        id_token = sign(idp, id_claims(idp))
        other = sign(idp, id_claims(idp, uti="Fc6mDLrCHU6ClPBxkSxkAA"))
        assert await server.refused(id_token, other) == "invalid_token"


async def test_entra_v1_token_to_the_v2_provider_is_refused_as_unknown_issuer() -> None:
    idp = entra()
    v1 = {
        **access_claims(idp, iss=f"https://sts.windows.net/{TENANT}/", aud=f"api://{API}"),
        "ver": "1.0",
        "appid": SPA,
        "appidacr": "0",
        "unique_name": "abeli@contoso.com",
        "idp": f"https://sts.windows.net/{TENANT}/",
        "azp": None,
        "azpacr": None,
    }
    v1 = {k: v for k, v in v1.items() if v is not None}
    async with deploy(idp, TOML) as server:
        token = idp.sign(v1, {"typ": "JWT", "x5t": idp.key.kid})
        assert await server.refused(token, sign(idp, id_claims(idp))) == "unknown_issuer"


async def test_entra_token_of_another_tenant_is_refused_as_unknown_issuer() -> None:
    idp = entra()
    other = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
    async with deploy(idp, TOML) as server:
        access = sign(idp, access_claims(idp, iss=other))
        assert await server.refused(access, sign(idp, id_claims(idp))) == "unknown_issuer"


async def test_entra_token_for_another_api_is_refused() -> None:
    idp = entra()
    async with deploy(idp, TOML) as server:
        graph = sign(idp, access_claims(idp, aud="00000003-0000-0000-c000-000000000000"))
        assert await server.refused(graph, sign(idp, id_claims(idp))) == "invalid_token"
        other_spa = sign(idp, id_claims(idp, aud=str(uuid.uuid4())))
        assert await server.refused(sign(idp, access_claims(idp)), other_spa) == "invalid_token"


async def test_entra_group_overage_is_refused_with_groups_overage() -> None:
    idp = entra()
    overage = {
        "groups": None,
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {
            "src1": {"endpoint": f"https://graph.windows.net/{TENANT}/users/{OID}/getMemberObjects"}
        },
    }
    async with deploy(idp, TOML) as server:
        access = sign(idp, access_claims(idp, **overage))
        assert await server.refused(access, sign(idp, id_claims(idp))) == "groups_overage"


async def test_entra_implicit_flow_hasgroups_is_refused_with_groups_overage() -> None:
    idp = entra()
    async with deploy(idp, TOML) as server:
        access = sign(idp, access_claims(idp, groups=None, hasgroups=True))
        assert await server.refused(access, sign(idp, id_claims(idp))) == "groups_overage"


async def test_entra_overage_does_not_matter_when_rooms_use_app_roles() -> None:
    idp = entra()
    toml = TOML.replace('groups_claim = "groups"', 'groups_claim = "roles"')
    overage = {"groups": None, "_claim_names": {"groups": "src1"}, "_claim_sources": {}}
    async with deploy(idp, toml) as server:
        access = sign(idp, access_claims(idp, **overage))
        identity = await server.connect(access, sign(idp, id_claims(idp)))
    assert identity.groups == {"Chat.Moderator"}
