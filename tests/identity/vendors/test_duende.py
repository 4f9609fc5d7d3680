"""Duende IdentityServer (and IdentityServer4 before it): RFC 9068-style JWT access tokens.

Sources for the shapes below:
- "Requesting Tokens", decoded identity and access tokens
  https://docs.duendesoftware.com/identityserver/tokens (access token: ``aud`` = the API resource,
  ``client_id``, ``sub``, ``idp``, ``amr``, ``auth_time``, ``sid``, ``jti``; ID token: ``aud`` = the
  client, ``nonce``, ``sid``, ``idp``, ``name``). Source: DuendeSoftware/docs.duendesoftware.com
  src/content/docs/identityserver/tokens/index.md
- ``AccessTokenJwtType`` "Defaults to at+jwt" and ``EmitScopesAsSpaceDelimitedStringInJwt``
  (``scope`` as a JSON array when false), "IdentityServer Options"
  https://docs.duendesoftware.com/identityserver/reference/options/ and "Scope Claim Format" in
  https://docs.duendesoftware.com/identityserver/apis/aspnetcore/authorization
- The ``aud`` claim comes from an ``ApiResource`` ("API Resources"
  https://docs.duendesoftware.com/identityserver/fundamentals/resources/api-resources); user claims
  such as ``role`` reach the access token through its ``UserClaims``.
"""

import uuid
from typing import Any

from tests.identity.vendors.idp import Claims, VendorIdP, deploy, rsa_key
from tests.support.clock import FakeClock

ISSUER = "https://login.example.com"
CLIENT = "chat-spa"
API = "sso-chat-api"

TOML = f"""
[[providers]]
id = "duende"
name = "Example login"
issuer = "{ISSUER}"
client_id = "{CLIENT}"
audience = "{API}"
groups_claim = "role"
required_scopes = ["chat.write"]

[[rooms]]
slug = "general"
name = "General"

[[rooms]]
slug = "staff"
name = "Staff"
allowed_groups = ["staff"]
"""


def duende(clock: FakeClock | None = None) -> VendorIdP:
    # Automatic key management publishes the signing key and the next one, both with `alg`.
    current = rsa_key("2C56A356A306E64AFC7D2C6399E23A17")
    announced = rsa_key("8F1E6A0B27C94D3E85A1F0B6C2D7E934")
    return VendorIdP(
        issuer=ISSUER,
        jwks_uri=f"{ISSUER}/.well-known/openid-configuration/jwks",
        keys=[current, announced],
        clock=clock or FakeClock(),
        discovery={
            "authorization_endpoint": f"{ISSUER}/connect/authorize",
            "token_endpoint": f"{ISSUER}/connect/token",
            "end_session_endpoint": f"{ISSUER}/connect/endsession",
        },
    )


def access_claims(idp: VendorIdP, /, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        "iss": ISSUER,
        "nbf": now,
        "iat": now,
        "exp": now + 3600,
        "aud": API,
        "scope": ["openid", "profile", "chat.write", "offline_access"],
        "amr": ["pwd"],
        "client_id": CLIENT,
        "sub": "88421113",
        "auth_time": now - 8,
        "idp": "local",
        "role": "staff",  # one value: a string; several: an array
        "sid": "F6E6F2EDE86EB8731EF609A4FE40ED89",
        "jti": uuid.uuid4().hex.upper(),
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def id_claims(idp: VendorIdP, /, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        "iss": ISSUER,
        "nbf": now,
        "iat": now,
        "exp": now + 300,
        "aud": CLIENT,
        "amr": ["pwd"],
        "nonce": "63745529591...I3ZTIyOTZmZTNj",
        "sid": "F6E6F2EDE86EB8731EF609A4FE40ED89",
        "auth_time": now - 8,
        "idp": "local",
        "sub": "88421113",
        "name": "Bob Smith",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign_in(idp: VendorIdP, /, **access_changes: Any) -> tuple[str, str]:
    access = idp.sign(access_claims(idp, **access_changes), {"typ": "at+jwt"})
    return access, idp.sign(id_claims(idp), {"typ": "JWT"})


async def test_duende_connects_with_an_at_jwt_token_and_a_scope_array() -> None:
    idp = duende()
    async with deploy(idp, TOML) as server:
        identity = await server.connect(*sign_in(idp))
    assert identity.subject == "88421113"
    assert identity.name == "Bob Smith"
    assert identity.groups == {"staff"}
    assert identity.scopes == {"openid", "profile", "chat.write", "offline_access"}
    assert server.rooms(identity) == ["general", "staff"]


async def test_duende_roles_as_an_array_and_scopes_as_a_string_connect() -> None:
    idp = duende()
    async with deploy(idp, TOML) as server:
        identity = await server.connect(
            *sign_in(idp, role=["staff", "reviewer"], scope="openid profile chat.write")
        )
    assert identity.groups == {"staff", "reviewer"}


async def test_duende_id_token_in_the_access_slot_is_refused() -> None:
    idp = duende()
    async with deploy(idp, TOML) as server:
        id_token = sign_in(idp)[1]
        other = idp.sign(id_claims(idp, nonce="another"), {"typ": "JWT"})
        assert await server.refused(id_token, other) == "invalid_token"


async def test_duende_token_for_another_api_resource_is_refused() -> None:
    idp = duende()
    async with deploy(idp, TOML) as server:
        access, id_token = sign_in(idp, aud="urn:resource1")
        assert await server.refused(access, id_token) == "invalid_token"


async def test_duende_client_credentials_token_is_refused() -> None:
    # A machine client's token for our API has no user: no `sub`, no ID token to pair.
    idp = duende()
    async with deploy(idp, TOML) as server:
        access, id_token = sign_in(idp, sub=None, client_id="reporting-job", idp=None, sid=None)
        assert await server.refused(access, id_token) == "invalid_token"
