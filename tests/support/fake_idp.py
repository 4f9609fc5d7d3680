"""An in-process OpenID provider for unit tests and hostile tokens: our own keys, our own claims.

Serves discovery and JWKS through ``httpx.MockTransport`` (unit tests) or as an ASGI app on
127.0.0.1 (end-to-end hostile cases), and counts every fetch.
"""

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SigningKey = RSAKey | ECKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unsigned_jwt(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS with whatever header and signature the test wants (for hostile tokens)."""
    parts = [json.dumps(header).encode(), json.dumps(claims).encode()]
    return ".".join([*(b64url(p) for p in parts), b64url(signature)])


class FakeIdP:
    """Keys, discovery and JWKS of a provider we control completely."""

    def __init__(
        self,
        issuer: str = "https://idp.test",
        *,
        client_id: str = "chat-spa",
        audience: str = "urn:sso-chat:api",
        now: Callable[[], float] = time.time,
    ) -> None:
        self.now = now
        self.issuer = issuer
        self.client_id = client_id
        self.audience = audience
        self.rsa = RSAKey.generate_key(
            2048, parameters={"kid": "rsa-1", "use": "sig", "alg": "RS256"}
        )
        self.ec = ECKey.generate_key(
            "P-256", parameters={"kid": "ec-1", "use": "sig", "alg": "ES256"}
        )
        self.published: list[dict[str, Any]] = [
            self.rsa.as_dict(private=False),
            self.ec.as_dict(private=False),
        ]
        self.discovery_fetches = 0
        self.jwks_fetches = 0
        self.down = False
        self.jwks_cache_control = "public, max-age=300"
        self.discovery_issuer: str | None = None

    # --- minting -------------------------------------------------------------------------
    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(self.now())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "alice",
            "aud": self.audience,
            "iat": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
            "scope": "openid chat:read chat:write",
            "client_id": self.client_id,
            "groups": ["staff"],
            "name": "Alice Anderson",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict[str, Any], *, key: SigningKey | None = None, **header: Any) -> str:
        key = key or self.rsa
        alg = "RS256" if isinstance(key, RSAKey) else "ES256"
        full_header = {"alg": alg, "kid": key.kid, **header}
        return jwt.encode({k: v for k, v in full_header.items() if v is not None}, claims, key)

    def access_token(
        self, *, key: SigningKey | None = None, typ: str | None = "at+jwt", **claims: Any
    ) -> str:
        return self.sign(self.claims(**claims), key=key, typ=typ)

    def id_token(self, *, key: SigningKey | None = None, **claims: Any) -> str:
        base = {"aud": self.client_id, "scope": None, "client_id": None, "nonce": "n-0S6"}
        return self.sign(self.claims(**{**base, **claims}), key=key, typ="JWT")

    def logout_token(
        self, *, key: SigningKey | None = None, typ: str | None = "logout+jwt", **claims: Any
    ) -> str:
        """An OIDC back-channel logout token (section 2.4) for ``sub``/``sid``."""
        now = int(self.now())
        base: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 120,
            "jti": uuid.uuid4().hex,
            "sub": "alice",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        }
        base.update(claims)
        return self.sign({k: v for k, v in base.items() if v is not None}, key=key, typ=typ)

    def tokens(self, **claims: Any) -> dict[str, str]:
        """A valid ``{access_token, id_token}`` auth payload for one subject."""
        return {"access_token": self.access_token(**claims), "id_token": self.id_token(**claims)}

    def rotate_key(self) -> None:
        """Publish a new RSA key first and drop the old one, as a provider's rotation does."""
        self.rsa = RSAKey.generate_key(
            2048, parameters={"kid": f"rsa-{uuid.uuid4().hex[:8]}", "use": "sig", "alg": "RS256"}
        )
        self.published = [self.rsa.as_dict(private=False), self.ec.as_dict(private=False)]

    # --- serving -------------------------------------------------------------------------
    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.discovery_issuer or self.issuer,
            "jwks_uri": f"{self.issuer}/jwks",
            "authorization_endpoint": f"{self.issuer}/auth",
            "token_endpoint": f"{self.issuer}/token",
            "end_session_endpoint": f"{self.issuer}/session/end",
        }

    def respond(self, path: str) -> tuple[int, Any, dict[str, str]]:
        if self.down:
            return 503, {"error": "down"}, {}
        if path.endswith("/.well-known/openid-configuration"):
            self.discovery_fetches += 1
            return 200, self.discovery(), {}
        if path.endswith("/jwks"):
            self.jwks_fetches += 1
            return 200, {"keys": self.published}, {"Cache-Control": self.jwks_cache_control}
        return 404, {"error": "not found"}, {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        """For ``httpx.MockTransport``."""
        status, body, headers = self.respond(request.url.path)
        return httpx.Response(status, json=body, headers=headers)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def asgi_app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            status, body, headers = self.respond(request.url.path)
            return JSONResponse(body, status_code=status, headers=headers)

        return Starlette(routes=[Route("/{path:path}", endpoint)])
