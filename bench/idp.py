"""The bench-only OpenID provider: one RSA key, discovery + JWKS on 127.0.0.1, tokens minted here.

The load generator never signs anything: this module pre-mints one ``{access_token, id_token}``
pair per distinct user (``sub`` u-000001, u-000002, …) into a JSON file, so every connect to our
server still does the full verification of both tokens against the served JWKS.
"""

import json
import time
import uuid
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.live import ServerThread, serve_asgi

CLIENT_ID = "bench-spa"
AUDIENCE = "urn:sso-chat:bench"
TOKEN_TTL_SECONDS = 3600


def subject(index: int) -> str:
    return f"u-{index + 1:06d}"


class BenchIdP:
    """Keys and tokens of the bench provider; ``serve()`` publishes discovery and JWKS."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(
            2048, parameters={"kid": "bench-1", "use": "sig", "alg": "RS256"}
        )
        self.issuer = ""
        self._running: ServerThread | None = None

    def token_pair(self, sub: str) -> dict[str, str]:
        """A valid auth payload for ``sub``: access token (at+jwt) and ID token (aud = client)."""
        now = int(time.time())
        common = {"iss": self.issuer, "sub": sub, "iat": now, "exp": now + TOKEN_TTL_SECONDS}
        access = {
            **common,
            "aud": AUDIENCE,
            "client_id": CLIENT_ID,
            "scope": "chat:read chat:write",
            "jti": uuid.uuid4().hex,
        }
        ident = {**common, "aud": CLIENT_ID, "name": f"Bench User {sub}"}
        return {
            "access_token": jwt.encode(
                {"alg": "RS256", "kid": "bench-1", "typ": "at+jwt"}, access, self.key
            ),
            "id_token": jwt.encode(
                {"alg": "RS256", "kid": "bench-1", "typ": "JWT"}, ident, self.key
            ),
        }

    def write_tokens(self, path: Path, count: int) -> None:
        """Mint ``count`` token pairs for distinct users into ``path`` (a JSON list)."""
        pairs = [self.token_pair(subject(i)) for i in range(count)]
        path.write_text(json.dumps(pairs), encoding="utf-8")

    def provider_table(self) -> dict[str, Any]:
        """The ``[[providers]]`` entry of our server's config."""
        return {
            "id": "bench",
            "name": "Bench IdP",
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "audience": AUDIENCE,
            "required_scopes": ["chat:write"],
        }

    def _app(self) -> Starlette:
        async def discovery(_: Request) -> JSONResponse:
            return JSONResponse({"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks"})

        async def jwks(_: Request) -> JSONResponse:
            return JSONResponse(
                {"keys": [self.key.as_dict(private=False)]},
                headers={"Cache-Control": "public, max-age=3600"},
            )

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/jwks", jwks),
            ]
        )

    def serve(self) -> None:
        """Serve discovery and JWKS on 127.0.0.1 (a free port) in a daemon thread."""
        self._running = serve_asgi(self._app()).__enter__()
        self.issuer = self._running.url

    def close(self) -> None:
        if self._running is not None:
            self._running.__exit__(None, None, None)
            self._running = None
