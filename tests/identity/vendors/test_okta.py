"""Okta: a custom authorization server (API Access Management), and the org authorization server.

Sources for the shapes below:
- "Customize tokens returned from Okta with a Groups claim", decoded tokens of both servers
  https://developer.okta.com/docs/guides/customize-tokens-groups-claim/main/ (custom server access
  token: ``ver: 1``, ``jti: "AT.…"``, ``cid``, ``uid: "00u…"``, ``scp`` as a JSON array,
  ``sub: "joe.user@example.com"``; org server ID token: ``sub: "00u…"``, ``idp``, ``amr``,
  ``groups``). Its source: okta/okta-developer-docs
  packages/@okta/vuepress-site/docs/guides/customize-tokens-groups-claim/main/index.md
- Headers ``{"kid":…,"alg":"RS256"}`` (no ``typ``) and the JWKS: captured in redpanda-data/redpanda
  src/v/security/tests/jwt_test.cc; a decoded org-server pair (``aud`` = the org URL, ``uid``, ``cid``,
  ID token ``at_hash``) in https://groups.google.com/g/rabbitmq-users/c/O3GdCKf8soM
- The org server's access tokens are for Okta's own APIs only ("For an Okta Org Authorization
  Server, you can only create an ID token with a Groups claim, not an access token", same guide).
"""

from typing import Any

from tests.identity.vendors.idp import Claims, VendorIdP, at_hash, deploy, rsa_key
from tests.support.clock import FakeClock

ORG = "https://acme.okta.com"
ISSUER = f"{ORG}/oauth2/aus8a1b2c3d4EfGh5d7"
CLIENT = "0oaipnnzumvqt5tiu1d6"
USER_ID = "00uzrjisTQK1SlAMB1d5"
LOGIN = "joe.user@example.com"

TOML = f"""
[[providers]]
id = "okta"
name = "Acme (Okta)"
issuer = "{ISSUER}"
client_id = "{CLIENT}"
audience = "api://sso-chat"
subject_claim = "uid"
required_scopes = ["chat:write"]

[[rooms]]
slug = "general"
name = "General"

[[rooms]]
slug = "sales"
name = "Sales"
allowed_groups = ["Midwest Sales"]
"""

ORG_TOML = f"""
[[providers]]
id = "okta-org"
name = "Acme (Okta)"
issuer = "{ORG}"
client_id = "{CLIENT}"
mode = "id_token_only"

[[rooms]]
slug = "general"
name = "General"

[[rooms]]
slug = "sales"
name = "Sales"
allowed_groups = ["Midwest Sales"]
"""


def okta(issuer: str = ISSUER, clock: FakeClock | None = None) -> VendorIdP:
    return VendorIdP(
        issuer=issuer,
        jwks_uri=f"{issuer}/v1/keys",
        keys=[rsa_key("f4-dpAc7AqynmGcjjS9LLPCBEW2ezVfIbAqTHPyKe_Y")],
        clock=clock or FakeClock(),
        discovery={
            "authorization_endpoint": f"{issuer}/v1/authorize",
            "token_endpoint": f"{issuer}/v1/token",
            "end_session_endpoint": f"{issuer}/v1/logout",
        },
    )


def access_claims(idp: VendorIdP, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        "ver": 1,
        "jti": "AT.BYBJNkCefidrwo0VtGLHIZCYfSAeOyB0tVPTB6eqFss",
        "iss": idp.issuer,
        "aud": "api://sso-chat",
        "iat": now,
        "exp": now + 3600,
        "cid": CLIENT,
        "uid": USER_ID,
        "scp": ["openid", "profile", "chat:write"],
        "auth_time": now - 30,
        "sub": LOGIN,
        "groups": ["Midwest Sales", "Everyone"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def id_claims(idp: VendorIdP, access: str | None, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        "sub": USER_ID,
        "name": "Joe User",
        "email": LOGIN,
        "ver": 1,
        "iss": idp.issuer,
        "aud": CLIENT,
        "iat": now,
        "exp": now + 3600,
        "jti": "ID.ewMNfSvcpuqyS93OgVeCN3F2LseqROkyYjz7DNb9yhs",
        "amr": ["pwd", "mfa", "kba"],
        "idp": "00oixa26ycdNcX0VT0h7",
        "nonce": "UBGW",
        "preferred_username": LOGIN,
        "auth_time": now - 30,
        "at_hash": at_hash(access) if access else None,
        "groups": ["Everyone", "Midwest Sales"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign_in(idp: VendorIdP) -> tuple[str, str]:
    access = idp.sign(access_claims(idp), {})
    return access, idp.sign(id_claims(idp, access), {})


async def test_okta_custom_authorization_server_connects_as_the_uid() -> None:
    idp = okta()
    async with deploy(idp, TOML) as server:
        identity = await server.connect(*sign_in(idp))
    assert identity.subject == USER_ID  # the user id, not the (changeable) login
    assert identity.name == "Joe User"
    assert identity.groups == {"Midwest Sales", "Everyone"}
    assert identity.scopes == {"openid", "profile", "chat:write"}
    assert server.rooms(identity) == ["general", "sales"]


async def test_okta_pair_is_refused_with_the_default_subject_claims() -> None:
    # Access `sub` = the login, ID token `sub` = the user id: "different subjects" (finding 2).
    idp = okta()
    async with deploy(idp, TOML.replace('subject_claim = "uid"\n', "")) as server:
        assert await server.refused(*sign_in(idp)) == "invalid_token"


async def test_okta_id_token_in_the_access_slot_is_refused() -> None:
    idp = okta()
    async with deploy(idp, TOML) as server:
        _, id_token = sign_in(idp)
        other = idp.sign(id_claims(idp, None, jti="ID.other"), {})
        assert await server.refused(id_token, other) == "invalid_token"


async def test_okta_token_of_another_client_is_refused() -> None:
    idp = okta()
    async with deploy(idp, TOML) as server:
        access, _ = sign_in(idp)
        other_client = idp.sign(id_claims(idp, access, aud="0oaOTHERCLIENT1d6"), {})
        assert await server.refused(access, other_client) == "invalid_token"
        other_api = idp.sign(access_claims(idp, aud="api://default"), {})
        assert await server.refused(other_api, idp.sign(id_claims(idp, other_api), {})) == (
            "invalid_token"
        )


async def test_okta_without_the_chat_scope_is_refused_with_insufficient_scope() -> None:
    idp = okta()
    async with deploy(idp, TOML) as server:
        access = idp.sign(access_claims(idp, scp=["openid", "profile"]), {})
        assert await server.refused(access, idp.sign(id_claims(idp, access), {})) == (
            "insufficient_scope"
        )


async def test_okta_org_server_access_token_to_the_custom_server_is_unknown_issuer() -> None:
    idp = okta()
    async with deploy(idp, TOML) as server:
        org_access = idp.sign(access_claims(idp, iss=ORG, aud=ORG), {})
        assert await server.refused(org_access, sign_in(idp)[1]) == "unknown_issuer"


async def test_okta_org_server_connects_with_the_id_token_alone() -> None:
    idp = okta(ORG)
    async with deploy(idp, ORG_TOML) as server:
        identity = await server.connect(None, idp.sign(id_claims(idp, None), {}))
    assert identity.subject == USER_ID
    assert identity.name == "Joe User"
    assert identity.groups == {"Everyone", "Midwest Sales"}
    assert server.rooms(identity) == ["general", "sales"]


async def test_okta_org_server_access_token_is_refused_in_either_slot() -> None:
    # The org server's access token is for Okta's APIs (aud = the org URL), never for us.
    idp = okta(ORG)
    async with deploy(idp, ORG_TOML) as server:
        org_access = idp.sign(access_claims(idp, aud=ORG, groups=None), {})
        id_token = idp.sign(id_claims(idp, org_access), {})
        assert await server.refused(None, org_access) == "invalid_token"
        assert await server.refused(org_access, id_token) == "invalid_token"


async def test_okta_org_server_id_token_of_another_client_is_refused() -> None:
    idp = okta(ORG)
    async with deploy(idp, ORG_TOML) as server:
        other = idp.sign(id_claims(idp, None, aud="0oaOTHERCLIENT1d6"), {})
        assert await server.refused(None, other) == "invalid_token"


async def test_okta_org_server_thin_id_token_connects_without_profile_or_groups() -> None:
    # Asked for together with an access token, the org server's ID token is "thin": base claims
    # only, no profile attributes or groups (same guide). Rooms with allowed_groups stay hidden.
    idp = okta(ORG)
    thin = {"name": None, "email": None, "preferred_username": None, "groups": None}
    async with deploy(idp, ORG_TOML) as server:
        identity = await server.connect(None, idp.sign(id_claims(idp, None, **thin), {}))
    assert identity.subject == USER_ID
    assert identity.name == USER_ID
    assert server.rooms(identity) == ["general"]
