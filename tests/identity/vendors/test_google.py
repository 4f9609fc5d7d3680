"""Google: its access tokens are opaque, so it signs in in ``id_token_only`` mode.

Sources for the shapes below:
- "OpenID Connect" https://developers.google.com/identity/openid-connect/openid-connect (ID token
  claims ``iss``, ``azp``, ``aud``, ``sub``, ``hd``, ``email``, ``email_verified``, ``at_hash``,
  ``nonce``, ``name``, ``picture``; "An ID token's lifetime is one hour") and the "OpenID Connect
  API Reference" https://developers.google.com/identity/openid-connect/reference (discovery
  ``issuer`` ``https://accounts.google.com``; ``jwks_uri`` on another host,
  ``https://www.googleapis.com/oauth2/v3/certs``).
- Header ``{"alg":"RS256","kid":…,"typ":"JWT"}`` and the JWKS (40-hex ``kid``, ``alg``, ``use``):
  captured in redpanda-data/redpanda src/v/security/tests/jwt_test.cc
"""

from typing import Any

from tests.identity.vendors.idp import Claims, VendorIdP, at_hash, deploy, rsa_key
from tests.support.clock import FakeClock

ISSUER = "https://accounts.google.com"
CLIENT = "1234987819200-9pq7e4k2lt5ub0v3h6s1m8n0c4x2z7ad.apps.googleusercontent.com"
USER = "110169484474386276334"

TOML = f"""
[[providers]]
id = "google"
name = "Google"
issuer = "{ISSUER}"
client_id = "{CLIENT}"
mode = "id_token_only"

[[rooms]]
slug = "general"
name = "General"

[[rooms]]
slug = "staff"
name = "Staff"
allowed_groups = ["staff"]
"""


def google(clock: FakeClock | None = None) -> VendorIdP:
    return VendorIdP(
        issuer=ISSUER,
        jwks_uri="https://www.googleapis.com/oauth2/v3/certs",
        keys=[rsa_key("f5f4bf46e52b31d9b6249f7309ad0338400680cd"), rsa_key("a06af0b68a21")],
        clock=clock or FakeClock(),
        discovery={
            "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
            "token_endpoint": "https://oauth2.googleapis.com/token",
            "userinfo_endpoint": "https://openidconnect.googleapis.com/v1/userinfo",
        },
    )


def id_claims(idp: VendorIdP, **changes: Any) -> Claims:
    now = idp.now()
    claims: Claims = {
        "iss": ISSUER,
        "azp": CLIENT,
        "aud": CLIENT,
        "sub": USER,
        "hd": "example.com",
        "email": "jsmith@example.com",
        "email_verified": True,
        "at_hash": at_hash("ya29.a0AfB_byC-opaque-access-token"),
        "nonce": "0394852-3190485-2490358",
        "name": "Jane Smith",
        "picture": "https://lh3.googleusercontent.com/a/ACg8ocJ",
        "given_name": "Jane",
        "family_name": "Smith",
        "iat": now,
        "exp": now + 3599,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign(idp: VendorIdP, claims: Claims) -> str:
    return idp.sign(claims, {"typ": "JWT"})


async def test_google_connects_with_the_id_token_alone() -> None:
    idp = google()
    async with deploy(idp, TOML) as server:
        claims = id_claims(idp)
        identity = await server.connect(None, sign(idp, claims))
    assert identity.issuer == ISSUER
    assert identity.subject == USER
    assert identity.name == "Jane Smith"
    assert identity.groups == frozenset()
    assert identity.expires_at == claims["exp"]  # the session lasts as long as the ID token
    assert server.rooms(identity) == ["general"]


async def test_google_id_token_in_both_slots_is_refused() -> None:
    idp = google()
    async with deploy(idp, TOML) as server:
        id_token = sign(idp, id_claims(idp))
        assert await server.refused(id_token, id_token) == "invalid_token"
        assert await server.refused(id_token, None) == "invalid_token"


async def test_google_id_token_of_another_client_is_refused() -> None:
    idp = google()
    async with deploy(idp, TOML) as server:
        other = "407408718192.apps.googleusercontent.com"  # e.g. the OAuth Playground's
        assert await server.refused(None, sign(idp, id_claims(idp, aud=other, azp=other))) == (
            "invalid_token"
        )
        presented_by_other = sign(idp, id_claims(idp, azp=other))
        assert await server.refused(None, presented_by_other) == "invalid_token"


async def test_google_expired_id_token_is_refused_as_expired() -> None:
    idp = google()
    async with deploy(idp, TOML) as server:
        token = sign(idp, id_claims(idp))
        idp.clock.advance(3599 + 61)
        assert await server.refused(None, token) == "token_expired"


async def test_google_keys_come_from_the_jwks_uri_on_another_host() -> None:
    idp = google()
    async with deploy(idp, TOML) as server:
        await server.connect(None, sign(idp, id_claims(idp)))
    assert idp.fetches == [
        "https://accounts.google.com/.well-known/openid-configuration",
        "https://www.googleapis.com/oauth2/v3/certs",
    ]
