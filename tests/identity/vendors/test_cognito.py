"""AWS Cognito user pools: access tokens name the app client in ``client_id`` and carry no ``aud``.

Sources for the shapes below:
- "Understanding the access token"
  https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html
  (header ``{"kid":…,"alg":"RS256"}`` without ``typ``; ``token_use: "access"``, ``client_id``,
  ``username``, ``cognito:groups``, ``scope`` string with resource-server scopes
  ``IDENTIFIER/SCOPE``, ``origin_jti``, ``event_id``, no ``aud``; "Amazon Cognito signs access tokens
  with a different key than ID tokens": the ``kid`` differs).
- "Understanding the identity (ID) token"
  https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-id-token.html
  (``token_use: "id"``, ``aud`` = the app client id, ``cognito:username``, ``cognito:groups``).
- Issuer ``https://cognito-idp.REGION.amazonaws.com/POOL-ID`` and JWKS at
  ``ISSUER/.well-known/jwks.json`` ("Verifying a JSON Web Token"
  https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html).
"""

import uuid
from typing import Any

from tests.identity.vendors.idp import Claims, VendorIdP, deploy, rsa_key
from tests.support.clock import FakeClock

POOL = "us-east-1_Ab12Cd34E"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
CLIENT = "3n4b5urk1ft4fl3mg5e62d9ado"
USER = "248289dc-4f1a-4e6c-9d2b-7a3c5e8f2f44"

TOML = f"""
[[providers]]
id = "cognito"
name = "Acme"
issuer = "{ISSUER}"
client_id = "{CLIENT}"
audience = "{CLIENT}"
audience_claim = "client_id"
access_token_required_claims = {{ token_use = "access" }}
groups_claim = "cognito:groups"
required_scopes = ["sso-chat/chat.write"]

[[rooms]]
slug = "general"
name = "General"

[[rooms]]
slug = "admins"
name = "Admins"
allowed_groups = ["admin"]
"""


def cognito(clock: FakeClock | None = None) -> VendorIdP:
    return VendorIdP(
        issuer=ISSUER,
        jwks_uri=f"{ISSUER}/.well-known/jwks.json",
        keys=[rsa_key("1234exampleAccessKid="), rsa_key("5678exampleIdTokenKid=")],
        clock=clock or FakeClock(),
        discovery={
            "authorization_endpoint": "https://acme.auth.us-east-1.amazoncognito.com/oauth2/authorize",
            "token_endpoint": "https://acme.auth.us-east-1.amazoncognito.com/oauth2/token",
        },
    )


def access_claims(idp: VendorIdP, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        "sub": USER,
        "cognito:groups": ["admin"],
        "iss": ISSUER,
        "version": 2,
        "client_id": CLIENT,
        "origin_jti": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "token_use": "access",
        "scope": "openid email sso-chat/chat.write",
        "auth_time": now - 3,
        "exp": now + 3600,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "username": "janedoe",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def id_claims(idp: VendorIdP, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        "sub": USER,
        "cognito:groups": ["admin"],
        "email_verified": True,
        "iss": ISSUER,
        "cognito:username": "janedoe",
        "origin_jti": str(uuid.uuid4()),
        "aud": CLIENT,
        "event_id": str(uuid.uuid4()),
        "token_use": "id",
        "auth_time": now - 3,
        "name": "Jane Doe",
        "exp": now + 3600,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "email": "jane@example.com",
        "nonce": "n-0S6_WzA2Mj",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign_access(idp: VendorIdP, claims: Claims) -> str:
    return idp.sign(claims, {}, key=idp.keys[0])


def sign_id(idp: VendorIdP, claims: Claims) -> str:
    return idp.sign(claims, {}, key=idp.keys[1])


async def test_cognito_connects_with_client_id_as_the_audience() -> None:
    idp = cognito()
    async with deploy(idp, TOML) as server:
        access = sign_access(idp, access_claims(idp))
        identity = await server.connect(access, sign_id(idp, id_claims(idp)))
    assert identity.subject == USER
    assert identity.name == "Jane Doe"
    assert identity.groups == {"admin"}
    assert server.rooms(identity) == ["admins", "general"]


async def test_cognito_id_token_in_the_access_slot_is_refused() -> None:
    idp = cognito()
    async with deploy(idp, TOML) as server:
        id_token = sign_id(idp, id_claims(idp))
        other = sign_id(idp, id_claims(idp, nonce=None))
        assert await server.refused(id_token, other) == "invalid_token"
        without_nonce = sign_id(idp, id_claims(idp, nonce=None, jti=str(uuid.uuid4())))
        assert await server.refused(without_nonce, other) == "invalid_token"  # no client_id


async def test_cognito_id_token_carrying_client_id_is_still_refused_by_token_use() -> None:
    # A pre-token-generation Lambda may add claims to ID tokens; token_use still says "id".
    idp = cognito()
    async with deploy(idp, TOML) as server:
        id_token = sign_id(idp, id_claims(idp, nonce=None, client_id=CLIENT))
        assert await server.refused(id_token, sign_id(idp, id_claims(idp))) == "invalid_token"


async def test_cognito_access_token_of_another_app_client_is_refused() -> None:
    idp = cognito()
    async with deploy(idp, TOML) as server:
        other = sign_access(idp, access_claims(idp, client_id="7d8e9f0a1b2c3d4e5f6a7b8c9d"))
        assert await server.refused(other, sign_id(idp, id_claims(idp))) == "invalid_token"


async def test_cognito_token_of_another_user_pool_is_refused() -> None:
    idp = cognito()
    other_pool = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Zz98Yy76X"
    async with deploy(idp, TOML) as server:
        access = sign_access(idp, access_claims(idp, iss=other_pool))
        assert await server.refused(access, sign_id(idp, id_claims(idp))) == "unknown_issuer"


async def test_cognito_access_token_without_the_api_scope_is_refused() -> None:
    idp = cognito()
    async with deploy(idp, TOML) as server:
        access = sign_access(idp, access_claims(idp, scope="aws.cognito.signin.user.admin"))
        assert await server.refused(access, sign_id(idp, id_claims(idp))) == "insufficient_scope"
