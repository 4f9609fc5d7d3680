"""Keycloak ≥ 25 and Keycloak ≤ 24 / Red Hat SSO 7, configured as the README says.

Sources for the shapes below:
- Access token: Keycloak's standard payload (decoded, published in the gist
  https://gist.github.com/phacman/bd288c7abac1d3fc1694b7e191e27e4c): ``typ: "Bearer"``, ``azp``,
  ``realm_access.roles``, ``resource_access.<client>.roles``, ``scope`` string, ``sid``.
- ID token, header and JWKS: captured from Keycloak in redpanda-data/redpanda
  src/v/security/tests/jwt_test.cc (header ``{"alg":"RS256","typ" : "JWT","kid":…}``, payload
  ``typ: "ID"``, ``azp``, ``at_hash``; JWKS with a ``use: enc`` ``RSA-OAEP`` key listed first and an
  RS256 key with ``x5c``, ``x5t``, ``x5t#S256``).
- The nonce copied into access tokens by Keycloak ≤ 24: https://github.com/keycloak/keycloak/issues/26893
  (fixed in 25.0.0).
- Group claim with full paths (``/engineering``): the Group Membership mapper, ``useFullPath``
  https://www.keycloak.org/docs-api/latest/javadocs/org/keycloak/protocol/oidc/mappers/GroupMembershipMapper.html
- The API audience comes from an Audience mapper on a client scope:
  https://www.keycloak.org/docs/latest/server_admin/#_audience
"""

import uuid
from typing import Any

from tests.identity.vendors.idp import (
    Claims,
    VendorIdP,
    at_hash,
    deploy,
    encryption_key,
    rsa_key,
)
from tests.support.clock import FakeClock
from tests.support.fake_idp import unsigned_jwt

ISSUER = "https://sso.example.com/realms/acme"
USER = "7f3c2a9e-1b4d-4e8a-9c61-2f5d8b0e4a13"
HEADER = {"typ": "JWT"}

TOML = f"""
[[providers]]
id = "keycloak"
name = "Acme SSO"
issuer = "{ISSUER}"
client_id = "chat-spa"
audience = "sso-chat-api"
access_token_required_claims = {{ typ = "Bearer" }}
groups_claim = "groups"

[[rooms]]
slug = "general"
name = "General"

[[rooms]]
slug = "engineering"
name = "Engineering"
allowed_groups = ["/engineering"]

[[rooms]]
slug = "moderators"
name = "Moderators"
allowed_groups = ["chat-moderator"]
"""

# Keycloak ≤ 24 and Red Hat SSO 7.x: the same, and the nonce they put in access tokens declared.
TOML_24 = TOML.replace(
    'groups_claim = "groups"', 'groups_claim = "groups"\nallow_nonce_in_access_token = true'
)


def keycloak(clock: FakeClock | None = None) -> VendorIdP:
    return VendorIdP(
        issuer=ISSUER,
        jwks_uri=f"{ISSUER}/protocol/openid-connect/certs",
        keys=[rsa_key("kf46eDlB9jtz2PpktQ6NQSfRwoU", x5c=True, x5t_s256=True)],
        extra_jwks=[encryption_key("EWGWeiW8jqUC_T7Fawi5ecRbrDO").published],
        clock=clock or FakeClock(),
        discovery={
            "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth",
            "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
            "end_session_endpoint": f"{ISSUER}/protocol/openid-connect/logout",
        },
    )


def _user() -> Claims:
    return {
        "email_verified": True,
        "name": "Jane Doe",
        "preferred_username": "jane",
        "given_name": "Jane",
        "family_name": "Doe",
        "email": "jane@example.com",
        "groups": ["/engineering", "/engineering/backend"],
    }


def access_claims(idp: VendorIdP, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        "exp": now + 300,
        "iat": now,
        "auth_time": now - 5,
        "jti": f"onrtac:{uuid.uuid4()}",
        "iss": ISSUER,
        "aud": ["sso-chat-api", "account"],
        "sub": USER,
        "typ": "Bearer",
        "azp": "chat-spa",
        "sid": "2a88c258-f73a-4103-b862-e1fbd8f4e04e",
        "acr": "1",
        "allowed-origins": ["https://chat.example.com"],
        "realm_access": {"roles": ["default-roles-acme", "offline_access", "chat-moderator"]},
        "resource_access": {
            "sso-chat-api": {"roles": ["poster"]},
            "account": {"roles": ["manage-account", "view-profile"]},
        },
        "scope": "openid profile email",
        **_user(),
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def id_claims(idp: VendorIdP, access: str | None, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        "exp": now + 300,
        "iat": now,
        "auth_time": now - 5,
        "jti": str(uuid.uuid4()),
        "iss": ISSUER,
        "aud": "chat-spa",
        "sub": USER,
        "typ": "ID",
        "azp": "chat-spa",
        "nonce": "8uMO9nPU9OSEaACq0RvrA5W9nelqNyX06U3I4uP9Qvk",
        "sid": "2a88c258-f73a-4103-b862-e1fbd8f4e04e",
        "at_hash": at_hash(access) if access else None,
        "acr": "1",
        **_user(),
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign_in(idp: VendorIdP, *, legacy: bool = False, **access_changes: Any) -> tuple[str, str]:
    """The (access token, ID token) a code flow with PKCE and a nonce gives keycloak-js."""
    extra: Claims = {"nonce": "8uMO9nPU9OSEaACq0RvrA5W9nelqNyX06U3I4uP9Qvk"} if legacy else {}
    if legacy:
        extra["session_state"] = "2a88c258-f73a-4103-b862-e1fbd8f4e04e"
    access = idp.sign(access_claims(idp, **extra, **access_changes), HEADER)
    return access, idp.sign(id_claims(idp, access), HEADER)


async def test_keycloak_25_connects_with_full_group_paths_as_groups() -> None:
    idp = keycloak()
    async with deploy(idp, TOML) as server:
        identity = await server.connect(*sign_in(idp))
    assert identity.provider_id == "keycloak"
    assert identity.issuer == ISSUER
    assert identity.subject == USER
    assert identity.name == "Jane Doe"
    assert identity.groups == {"/engineering", "/engineering/backend"}
    assert identity.session_id == "2a88c258-f73a-4103-b862-e1fbd8f4e04e"
    assert server.rooms(identity) == ["engineering", "general"]


async def test_keycloak_realm_roles_are_groups_through_a_claim_path() -> None:
    idp = keycloak()
    toml = TOML.replace('groups_claim = "groups"', 'groups_claim = "realm_access.roles"')
    async with deploy(idp, toml) as server:
        identity = await server.connect(*sign_in(idp))
    assert identity.groups == {"default-roles-acme", "offline_access", "chat-moderator"}
    assert server.rooms(identity) == ["general", "moderators"]


async def test_keycloak_client_roles_are_groups_through_a_claim_path() -> None:
    idp = keycloak()
    path = 'groups_claim = "resource_access.sso-chat-api.roles"'
    async with deploy(idp, TOML.replace('groups_claim = "groups"', path)) as server:
        identity = await server.connect(*sign_in(idp))
    assert identity.groups == {"poster"}


async def test_keycloak_id_token_in_the_access_token_slot_is_refused() -> None:
    idp = keycloak()
    async with deploy(idp, TOML) as server:
        _, id_token = sign_in(idp)
        other_id_token = idp.sign(id_claims(idp, None, jti=str(uuid.uuid4())), HEADER)
        assert await server.refused(id_token, other_id_token) == "invalid_token"
        assert await server.refused(id_token, id_token) == "invalid_token"


async def test_keycloak_token_of_another_client_without_our_audience_is_refused() -> None:
    # Another client of the realm, without the audience mapper: aud is only "account".
    idp = keycloak()
    async with deploy(idp, TOML) as server:
        access = idp.sign(access_claims(idp, aud="account", azp="intranet"), HEADER)
        id_token = idp.sign(id_claims(idp, access, aud="intranet", azp="intranet"), HEADER)
        assert await server.refused(access, id_token) == "invalid_token"
        _, ours = sign_in(idp)
        assert await server.refused(access, ours) == "invalid_token"


async def test_keycloak_refresh_token_in_the_access_token_slot_is_refused() -> None:
    # Keycloak's refresh tokens: typ "Refresh", aud = the realm, HS512 with the realm's secret.
    idp = keycloak()
    refresh = unsigned_jwt(
        {"alg": "HS512", "typ": "JWT", "kid": "b5f3c7d0"},
        access_claims(idp, typ="Refresh", aud=ISSUER, scope="openid profile email"),
        b"\x00" * 64,
    )
    async with deploy(idp, TOML) as server:
        _, id_token = sign_in(idp)
        assert await server.refused(refresh, id_token) == "invalid_token"


async def test_keycloak_token_signed_with_the_published_encryption_key_is_refused() -> None:
    enc = encryption_key("EWGWeiW8jqUC_T7Fawi5ecRbrDO")
    idp = keycloak()
    idp.jwks["keys"][0] = enc.published  # the realm's RSA-OAEP key, with its private half held
    async with deploy(idp, TOML) as server:
        access = idp.sign(access_claims(idp), HEADER, key=enc)
        assert await server.refused(access, idp.sign(id_claims(idp, access), HEADER)) == (
            "invalid_token"
        )


async def test_keycloak_24_access_token_with_the_request_nonce_connects_when_declared() -> None:
    idp = keycloak()
    async with deploy(idp, TOML_24) as server:
        identity = await server.connect(*sign_in(idp, legacy=True))
    assert identity.subject == USER
    assert identity.name == "Jane Doe"
    assert server.rooms(identity) == ["engineering", "general"]


async def test_keycloak_24_nonce_access_token_is_refused_when_not_declared() -> None:
    idp = keycloak()
    async with deploy(idp, TOML) as server:
        assert await server.refused(*sign_in(idp, legacy=True)) == "invalid_token"


async def test_keycloak_24_id_token_in_the_access_slot_stays_refused_with_nonce_allowed() -> None:
    idp = keycloak()
    async with deploy(idp, TOML_24) as server:
        _, id_token = sign_in(idp, legacy=True)
        without_at_hash = idp.sign(id_claims(idp, None), HEADER)  # aud and typ still tell
        other = idp.sign(id_claims(idp, None, jti=str(uuid.uuid4())), HEADER)
        assert await server.refused(id_token, other) == "invalid_token"
        assert await server.refused(without_at_hash, other) == "invalid_token"


async def test_keycloak_id_token_of_another_user_is_refused() -> None:
    idp = keycloak()
    async with deploy(idp, TOML) as server:
        access, _ = sign_in(idp)
        mallory = idp.sign(id_claims(idp, access, sub=str(uuid.uuid4())), HEADER)
        assert await server.refused(access, mallory) == "invalid_token"
