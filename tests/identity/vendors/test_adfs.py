"""AD FS 2016/2019: access tokens carry the federation service identifier as ``iss``.

Sources for the shapes below:
- [MS-OIDCE] 2.2.3.2 "OpenID Provider Metadata": ``access_token_issuer``, "the issuer for access
  tokens issued by the OpenID provider"
  https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-oidce/586de7dd-3385-47c7-93a2-935d9e90441c
- A captured AD FS discovery document (``issuer`` ``https://HOST/adfs``, ``access_token_issuer``
  ``http://HOST/adfs/services/trust``: the federation service identifier, ``http`` as AD FS sets it
  by default), its JWKS (``kid`` = ``x5t``, ``x5c``, ``alg``) and a decoded access token (header with
  ``x5t``; ``aud`` the relying party identifier, ``apptype``, ``appid``, ``authmethod``, ``auth_time``
  as an ISO string, ``ver: "1.0"``, ``scp``, and **no** ``sub``): redpanda-data/redpanda
  src/v/security/tests/jwt_test.cc
- ID token claims (``sub`` pairwise, ``upn``, ``unique_name``, ``sid`` = the user's Windows SID):
  "AD FS OpenID Connect/OAuth concepts"
  https://learn.microsoft.com/en-us/windows-server/identity/ad-fs/development/ad-fs-openid-connect-oauth-concepts
  and "Customize claims to be emitted in id_token"
  https://learn.microsoft.com/en-us/windows-server/identity/ad-fs/development/custom-id-tokens-in-ad-fs
"""

from typing import Any

from tests.identity.vendors.idp import Claims, VendorIdP, deploy, rsa_key
from tests.support.clock import FakeClock

HOST = "adfs.contoso.com"
ISSUER = f"https://{HOST}/adfs"
ACCESS_ISSUER = f"http://{HOST}/adfs/services/trust"
CLIENT = "76b2966b-b1b0-4aec-a5da-661cffe095e0"
API = "https://chat.contoso.com/api"
UPN = "jdoe@contoso.com"

TOML = f"""
[[providers]]
id = "adfs"
name = "Contoso"
issuer = "{ISSUER}"
access_token_issuer = "{ACCESS_ISSUER}"
client_id = "{CLIENT}"
audience = "{API}"
subject_claim = "upn"
id_token_subject_claim = "upn"
groups_claim = "group"

[[rooms]]
slug = "general"
name = "General"

[[rooms]]
slug = "finance"
name = "Finance"
allowed_groups = ["Finance"]
"""


def adfs(access_issuer: str = ACCESS_ISSUER, clock: FakeClock | None = None) -> VendorIdP:
    return VendorIdP(
        issuer=ISSUER,
        jwks_uri=f"https://{HOST}/adfs/discovery/keys",
        keys=[rsa_key("adfs-token-signing", x5t_as_kid=True)],
        clock=clock or FakeClock(),
        discovery={
            "authorization_endpoint": f"https://{HOST}/adfs/oauth2/authorize/",
            "token_endpoint": f"https://{HOST}/adfs/oauth2/token/",
            "userinfo_endpoint": f"https://{HOST}/adfs/userinfo",
            "end_session_endpoint": f"https://{HOST}/adfs/oauth2/logout",
            "subject_types_supported": ["pairwise"],
            "access_token_issuer": access_issuer,
            "microsoft_multi_refresh_token": True,
            "capabilities": ["kdf_ver2"],
        },
    )


def access_claims(idp: VendorIdP, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        "aud": API,
        "iss": ACCESS_ISSUER,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "apptype": "Public",
        "appid": CLIENT,
        "authmethod": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        "auth_time": "2024-11-16T16:42:01.239Z",
        "ver": "1.0",
        "scp": "openid profile",
        # Emitted by the Web API's issuance transform rules (LDAP attributes as claims):
        "upn": UPN,
        "unique_name": "CONTOSO\\jdoe",
        "group": ["Domain Users", "Finance"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def id_claims(idp: VendorIdP, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        "aud": CLIENT,
        "iss": ISSUER,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "auth_time": now - 10,
        "nonce": "8a1f1c3e-5d7b-4f2a-9e6c-0b4d2a8f6e1c",
        "sub": "yRxTjxVhS8uDHSHeE3sZLBB2dNUkhvaQ0nE4WNV8tNs=",  # pairwise, per client
        "upn": UPN,
        "unique_name": "CONTOSO\\jdoe",
        "sid": "S-1-5-21-1004336348-1177238915-682003330-512",  # the user's Windows SID
        "apptype": "Public",
        "appid": CLIENT,
        "authmethod": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        "ver": "1.0",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign(idp: VendorIdP, claims: Claims) -> str:
    return idp.sign(claims, {"typ": "JWT", "x5t": idp.key.kid})


async def test_adfs_connects_with_access_tokens_from_the_access_token_issuer() -> None:
    idp = adfs()
    async with deploy(idp, TOML) as server:
        identity = await server.connect(sign(idp, access_claims(idp)), sign(idp, id_claims(idp)))
    assert identity.issuer == ISSUER
    assert identity.subject == UPN
    assert identity.groups == {"Domain Users", "Finance"}
    assert server.rooms(identity) == ["finance", "general"]


async def test_adfs_with_an_https_federation_service_identifier_connects() -> None:
    https_issuer = f"https://{HOST}/adfs/services/trust"
    idp = adfs(https_issuer)
    async with deploy(idp, TOML.replace(ACCESS_ISSUER, https_issuer)) as server:
        access = sign(idp, access_claims(idp, iss=https_issuer))
        identity = await server.connect(access, sign(idp, id_claims(idp)))
    assert identity.subject == UPN


async def test_adfs_access_token_with_the_oidc_issuer_is_refused() -> None:
    idp = adfs()
    async with deploy(idp, TOML) as server:
        access = sign(idp, access_claims(idp, iss=ISSUER))
        assert await server.refused(access, sign(idp, id_claims(idp))) == "unknown_issuer"


async def test_adfs_id_token_in_the_access_slot_is_refused() -> None:
    idp = adfs()
    async with deploy(idp, TOML) as server:
        id_token = sign(idp, id_claims(idp))
        other = sign(idp, id_claims(idp, nonce="another"))
        assert await server.refused(id_token, other) == "unknown_issuer"


async def test_adfs_userinfo_access_token_is_refused() -> None:
    # What AD FS issues for its own userinfo endpoint when no API resource is requested.
    idp = adfs()
    async with deploy(idp, TOML) as server:
        userinfo = sign(idp, access_claims(idp, aud="urn:microsoft:userinfo"))
        assert await server.refused(userinfo, sign(idp, id_claims(idp))) == "invalid_token"


async def test_adfs_id_token_with_the_access_token_issuer_is_refused() -> None:
    idp = adfs()
    async with deploy(idp, TOML) as server:
        forged_pair = sign(idp, id_claims(idp, iss=ACCESS_ISSUER))
        assert await server.refused(sign(idp, access_claims(idp)), forged_pair) == "invalid_token"
