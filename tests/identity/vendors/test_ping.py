"""The Ping family: PingFederate (JSON web token access token manager) and PingAM.

Sources for the shapes below:
- PingFederate "Configuring JSON token management"
  https://docs.pingidentity.com/pingfederate/latest/administrators_reference_guide/pf_configure_json_token_management.html
  (Issuer Claim Value, Audience Claim Value, Use Centralized Signing Key, the access token attribute
  contract; ``scope`` is a JSON array unless "Space Delimit Scope Values" is set; ``client_id``),
  and "JSON Web Keys endpoint" https://docs.pingidentity.com/pingfederate/latest/administrators_reference_guide/pf_jwks_endpoint.html
  (``kty``, ``kid``, ``use``, ``n``, ``e``, optional ``alg``, ``x5c``).
- PingFederate ID token: decoded example in the PingFederate developer guide
  https://docs.pingidentity.com/r/en-us/developer/wls1601508088262 (``sub``, ``aud``, ``jti``,
  ``iss``, ``iat``, ``exp``, ``nonce``, ``at_hash``).
- PingAM client-based ("stateless") tokens: ``aud`` is the OAuth 2.0 client, ``tokenName``
  ``access_token`` / ``id_token``, ``scope`` as an array (PingGateway
  "Validating PingAM stateless access tokens"
  https://docs.pingidentity.com/pinggateway/2026/gateway-guide/oauth2-rs-stateless.html checks
  "the expected access token name"; a decoded AM/OpenAM token in
  https://github.com/OpenIdentityPlatform/OpenAM/discussions/1027).
"""

import uuid
from typing import Any

import pytest

from tests.identity.vendors.idp import (
    Claims,
    VendorIdP,
    at_hash,
    deploy,
    encryption_key,
    provider_from_toml,
    rsa_key,
)
from tests.support.clock import FakeClock

PF = "https://sso.example.com"
API = "https://chat.example.com/api"

PF_TOML = f"""
[[providers]]
id = "pingfederate"
name = "Example SSO"
issuer = "{PF}"
client_id = "chat-spa"
audience = "{API}"
required_scopes = ["chat"]
groups_claim = "groups"

[[rooms]]
slug = "general"
name = "General"

[[rooms]]
slug = "support"
name = "Support"
allowed_groups = ["Support"]
"""

AM = "https://am.example.com/am/oauth2/realms/root/realms/alpha"

AM_TOML = f"""
[[providers]]
id = "pingam"
name = "Example AM"
issuer = "{AM}"
client_id = "chat-spa"
mode = "id_token_only"
# PingAM's client-based access tokens share the ID token's key, issuer and audience: only
# tokenName tells them apart.
id_token_required_claims = {{ tokenName = "id_token" }}
"""


def pingfederate(clock: FakeClock | None = None) -> VendorIdP:
    return VendorIdP(
        issuer=PF,
        jwks_uri=f"{PF}/pf/JWKS",
        keys=[rsa_key("k1", x5c=True)],
        clock=clock or FakeClock(),
        discovery={
            "authorization_endpoint": f"{PF}/as/authorization.oauth2",
            "token_endpoint": f"{PF}/as/token.oauth2",
            "userinfo_endpoint": f"{PF}/idp/userinfo.openid",
            "ping_end_session_endpoint": f"{PF}/idp/startSLO.ping",
        },
    )


def pf_access(idp: VendorIdP, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        "scope": ["openid", "profile", "chat"],
        "client_id": "chat-spa",
        "iss": PF,  # Issuer Claim Value
        "aud": API,  # Audience Claim Value
        "jti": uuid.uuid4().hex[:22],
        "sub": "joe",
        "username": "joe",
        "groups": ["Support", "Everyone"],
        "iat": now,
        "exp": now + 7200,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def pf_id(idp: VendorIdP, access: str | None, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        "sub": "joe",
        "aud": "chat-spa",
        "jti": uuid.uuid4().hex[:22],
        "iss": PF,
        "iat": now,
        "exp": now + 300,
        "nonce": "e957ffba-9a78-4ea9-8eca-ae8c4ef9c856",
        "at_hash": at_hash(access) if access else None,
        "auth_time": now - 2,
        "acr": "urn:acr:form",
        "name": "Joe Bloggs",
        "email": "joe@example.com",
        "pi.sri": "Xu2Qk3fI7rU4pQ9aZ1xY5vB0c",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def pf_sign_in(idp: VendorIdP, **changes: Any) -> tuple[str, str]:
    access = idp.sign(pf_access(idp, **changes), {})
    return access, idp.sign(pf_id(idp, access), {})


async def test_pingfederate_connects_with_a_jwt_access_token_manager() -> None:
    idp = pingfederate()
    async with deploy(idp, PF_TOML) as server:
        identity = await server.connect(*pf_sign_in(idp))
    assert identity.subject == "joe"
    assert identity.name == "Joe Bloggs"
    assert identity.groups == {"Support", "Everyone"}
    assert identity.scopes == {"openid", "profile", "chat"}
    assert server.rooms(identity) == ["general", "support"]


async def test_pingfederate_id_token_in_the_access_slot_is_refused() -> None:
    idp = pingfederate()
    async with deploy(idp, PF_TOML) as server:
        _, id_token = pf_sign_in(idp)
        other = idp.sign(pf_id(idp, None), {})
        assert await server.refused(id_token, other) == "invalid_token"


async def test_pingfederate_token_of_another_access_token_manager_is_refused() -> None:
    # Another ATM (another API) of the same server: its Audience Claim Value is not ours.
    idp = pingfederate()
    async with deploy(idp, PF_TOML) as server:
        assert await server.refused(*pf_sign_in(idp, aud="https://payroll.example.com")) == (
            "invalid_token"
        )


async def test_pingfederate_id_token_of_another_client_is_refused() -> None:
    idp = pingfederate()
    async with deploy(idp, PF_TOML) as server:
        access, _ = pf_sign_in(idp)
        other = idp.sign(pf_id(idp, access, aud="intranet-portal"), {})
        assert await server.refused(access, other) == "invalid_token"


def pingam(clock: FakeClock | None = None) -> VendorIdP:
    return VendorIdP(
        issuer=AM,
        jwks_uri=f"{AM}/connect/jwk_uri",
        keys=[rsa_key("0j6KvGnSJ7wgLsDcgTuKzUnbq3M=", x5c=True)],
        extra_jwks=[encryption_key("RemGOVlrkFW1aeXQ8BUFmPEd8Xw=", "RSA-OAEP-256").published],
        clock=clock or FakeClock(),
        discovery={
            "authorization_endpoint": f"{AM}/authorize",
            "token_endpoint": f"{AM}/access_token",
            "end_session_endpoint": f"{AM}/connect/endSession",
        },
    )


def am_token(idp: VendorIdP, token_name: str, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        "sub": "bjensen",
        "subname": "bjensen",
        "auditTrackingId": str(uuid.uuid4()),
        "iss": AM,
        "tokenName": token_name,
        "aud": "chat-spa",
        "azp": "chat-spa",
        "auth_time": now - 4,
        "realm": "/alpha",
        "exp": now + 3600,
        "iat": now,
        "name": "Babs Jensen",
        "groups": ["Support"],
    }
    if token_name == "id_token":
        claims.update(tokenType="JWTToken", nonce="a1b2c3", s_hash="bOhtX8F73IMjSPeVAqxyTQ")
    else:
        claims.update(
            cts="OAUTH2_STATELESS_GRANT",
            token_type="Bearer",
            grant_type="authorization_code",
            scope=["openid", "profile"],
            jti=str(uuid.uuid4()),
            azp=None,
        )
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


async def test_pingam_connects_in_id_token_only_mode() -> None:
    idp = pingam()
    async with deploy(idp, AM_TOML) as server:
        identity = await server.connect(None, idp.sign(am_token(idp, "id_token"), {"typ": "JWT"}))
    assert identity.subject == "bjensen"
    assert identity.name == "Babs Jensen"
    assert identity.groups == {"Support"}


async def test_pingam_client_based_access_token_is_refused_in_the_access_slot() -> None:
    idp = pingam()
    async with deploy(idp, AM_TOML) as server:
        access = idp.sign(am_token(idp, "access_token"), {"typ": "JWT"})
        id_token = idp.sign(am_token(idp, "id_token"), {"typ": "JWT"})
        assert await server.refused(access, id_token) == "invalid_token"


async def test_pingam_client_based_access_token_is_refused_as_an_id_token() -> None:
    # Signed by the same key, `aud` = our client, `iss` = the issuer: only `tokenName` (and
    # `scope`) tell it from an ID token.
    idp = pingam()
    async with deploy(idp, AM_TOML) as server:
        access = idp.sign(am_token(idp, "access_token"), {"typ": "JWT"})
        assert await server.refused(None, access) == "invalid_token"


def test_pingam_access_tokens_for_the_client_cannot_be_configured_as_api_tokens() -> None:
    # Client-based AM tokens have the OAuth client as `aud`, exactly as its ID tokens do.
    toml = AM_TOML.replace('mode = "id_token_only"', 'audience = "chat-spa"')
    with pytest.raises(ValueError, match="audience equals client_id"):
        provider_from_toml(toml)
