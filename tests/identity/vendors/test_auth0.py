"""Auth0, with either of its access token profiles, configured as the README says.

Sources for the shapes below:
- "Access Token Profiles" https://auth0.com/docs/secure/tokens/access-tokens/access-token-profiles
  (Auth0 profile: ``iss`` with a trailing slash, ``aud`` a list holding the API identifier and
  ``https://TENANT/userinfo``, ``azp``, ``scope`` string; RFC 9068 profile: ``client_id`` and ``jti``
  instead of ``azp``, header ``typ: at+jwt`` per RFC 9068 section 2.1).
- "ID Token Structure" https://auth0.com/docs/secure/tokens/id-tokens/id-token-structure and
  namespaced custom claims ("Create Custom Claims"
  https://auth0.com/docs/secure/tokens/json-web-tokens/create-custom-claims).
- Header ``{"alg":"RS256","typ":"JWT","kid":…}``, JWKS (``x5t``, ``x5c``, ``alg``) and a decoded
  token: captured in redpanda-data/redpanda src/v/security/tests/jwt_test.cc (a client-credentials
  token: ``sub: "…@clients"``, ``gty: "client-credentials"``).
"""

from typing import Any

from tests.identity.vendors.idp import Claims, VendorIdP, deploy, rsa_key
from tests.support.clock import FakeClock

ISSUER = "https://acme.us.auth0.com/"
CLIENT = "3JJeI4tmMC6v8mCVCSDnAGVf2vrnJ0BT"
API = "https://chat.example.com/api"
GROUPS = "https://chat.example.com/groups"
USER = "auth0|64f0c1e2a3b4c5d6e7f80912"

TOML = f"""
[[providers]]
id = "auth0"
name = "Acme"
issuer = "{ISSUER}"
client_id = "{CLIENT}"
audience = "{API}"
groups_claim = "{GROUPS}"
required_scopes = ["chat:write"]

[[rooms]]
slug = "general"
name = "General"

[[rooms]]
slug = "engineering"
name = "Engineering"
allowed_groups = ["engineering"]
"""


def auth0(clock: FakeClock | None = None) -> VendorIdP:
    return VendorIdP(
        issuer=ISSUER,
        jwks_uri=f"{ISSUER}.well-known/jwks.json",
        keys=[
            rsa_key("tMQzailSAdaW4nojXxES9", x5c=True),
            rsa_key("NKxtg1GbhZJBVcnBjtSqI", x5c=True),
        ],
        clock=clock or FakeClock(),
        discovery={
            "authorization_endpoint": f"{ISSUER}authorize",
            "token_endpoint": f"{ISSUER}oauth/token",
            "userinfo_endpoint": f"{ISSUER}userinfo",
            "end_session_endpoint": f"{ISSUER}oidc/logout",
        },
    )


def access_claims(idp: VendorIdP, *, rfc9068: bool = False, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        "iss": ISSUER,
        "sub": USER,
        "aud": [API, f"{ISSUER}userinfo"],
        "iat": now,
        "exp": now + 86400,
        "scope": "openid profile email chat:write",
        "permissions": ["chat:write"],
        GROUPS: ["engineering"],
    }
    if rfc9068:
        claims.update(client_id=CLIENT, jti="73WakrfVbNJBaAmhQtEeDv")
    else:
        claims["azp"] = CLIENT
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def id_claims(idp: VendorIdP, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        GROUPS: ["engineering"],
        "nickname": "jane",
        "name": "Jane Doe",
        "picture": "https://s.gravatar.com/avatar/0c1d.png",
        "updated_at": "2024-05-02T09:12:44.512Z",
        "email": "jane@example.com",
        "email_verified": True,
        "iss": ISSUER,
        "aud": CLIENT,
        "iat": now,
        "exp": now + 36000,
        "sub": USER,
        "sid": "ZbXqOfYtWQ2UdNcK7Jh9aP3mLx5vB8eR",
        "nonce": "c0FpRk1oT2VZR3JpVDN0Y1J3bGpqZQ",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign_in(idp: VendorIdP, *, rfc9068: bool = False) -> tuple[str, str]:
    header = {"typ": "at+jwt" if rfc9068 else "JWT"}
    access = idp.sign(access_claims(idp, rfc9068=rfc9068), header)
    return access, idp.sign(id_claims(idp), {"typ": "JWT"})


async def test_auth0_profile_connects_with_the_namespaced_groups_claim() -> None:
    idp = auth0()
    async with deploy(idp, TOML) as server:
        identity = await server.connect(*sign_in(idp))
    assert identity.issuer == ISSUER
    assert identity.subject == USER
    assert identity.name == "Jane Doe"
    assert identity.groups == {"engineering"}
    assert server.rooms(identity) == ["engineering", "general"]


async def test_auth0_rfc9068_profile_connects() -> None:
    idp = auth0()
    async with deploy(idp, TOML) as server:
        identity = await server.connect(*sign_in(idp, rfc9068=True))
    assert identity.subject == USER
    assert identity.groups == {"engineering"}


async def test_auth0_token_whose_issuer_lacks_the_trailing_slash_is_refused() -> None:
    idp = auth0()
    async with deploy(idp, TOML) as server:
        access = idp.sign(access_claims(idp, iss=ISSUER.rstrip("/")), {"typ": "JWT"})
        assert await server.refused(access, sign_in(idp)[1]) == "unknown_issuer"


async def test_auth0_configured_without_the_trailing_slash_refuses_as_unknown_issuer() -> None:
    idp = auth0()
    toml = TOML.replace(f'issuer = "{ISSUER}"', f'issuer = "{ISSUER.rstrip("/")}"')
    async with deploy(idp, toml) as server:
        assert await server.refused(*sign_in(idp)) == "unknown_issuer"


async def test_auth0_id_token_in_the_access_slot_is_refused() -> None:
    idp = auth0()
    async with deploy(idp, TOML) as server:
        id_token = sign_in(idp)[1]
        other = idp.sign(id_claims(idp, sid="other-session"), {"typ": "JWT"})
        assert await server.refused(id_token, other) == "invalid_token"


async def test_auth0_tokens_of_another_client_are_refused() -> None:
    idp = auth0()
    async with deploy(idp, TOML) as server:
        access, _ = sign_in(idp)
        other_app = idp.sign(id_claims(idp, aud="Xy9OtherSpaClientIdQ4"), {"typ": "JWT"})
        assert await server.refused(access, other_app) == "invalid_token"
        machine = access_claims(
            idp, sub="Xy9OtherM2mClient@clients", azp="Xy9OtherM2mClient", gty="client-credentials"
        )
        m2m = idp.sign(machine, {"typ": "JWT"})
        assert await server.refused(m2m, sign_in(idp)[1]) == "invalid_token"
