"""Starlette routes: health, the SPA's public sign-in settings, and the built SPA itself."""

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from server.config import Settings
from server.errors import AppError
from server.identity import InvalidRequestError, TokenVerifier
from server.storage import ping

logger = logging.getLogger(__name__)


NO_STORE = {"Cache-Control": "no-store"}


async def _logout_token(request: Request) -> str:
    if (
        request.headers.get("content-type", "").split(";")[0].strip()
        != "application/x-www-form-urlencoded"
    ):
        raise InvalidRequestError("logout request is not a form")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOGOUT_BODY:
            raise InvalidRequestError("logout request too large")
    values = parse_qs(body.decode("ascii", errors="replace"), max_num_fields=10)
    tokens = values.get("logout_token", [])
    if len(tokens) != 1:
        raise InvalidRequestError("logout request without exactly one logout_token")
    return tokens[0]


class SpaFiles(StaticFiles):
    """Static files; an unknown path that is not an asset gets ``index.html`` (client routes)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404 or "." in Path(path).name:
                raise
            return FileResponse(Path(str(self.directory)) / "index.html")


def content_security_policy(settings: Settings) -> str:
    """The SPA's CSP: scripts only from us; the network only to us and the providers."""
    issuers = " ".join(sorted({p.issuer.rstrip("/") for p in settings.providers}))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {issuers}; form-action 'self' {issuers}; frame-src {issuers}; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


LogoutHandler = Callable[[str, object], Awaitable[int]]
MAX_LOGOUT_BODY = 32 * 1024


class WebRoutes:
    """The HTTP side of the server, apart from Socket.IO."""

    def __init__(
        self,
        settings: Settings,
        verifier: TokenVerifier,
        engine: AsyncEngine,
        logout: LogoutHandler,
    ) -> None:
        self._settings = settings
        self._verifier = verifier
        self._engine = engine
        self._logout = logout

    def routes(self) -> list[Route | Mount]:
        routes: list[Route | Mount] = [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/config", self.public_config, methods=["GET"]),
            Route(
                "/oidc/backchannel-logout/{provider_id}", self.backchannel_logout, methods=["POST"]
            ),
        ]
        static_dir = self._settings.server.static_dir
        if static_dir and (Path(static_dir) / "index.html").is_file():
            routes.append(Mount("/", app=SpaFiles(directory=static_dir), name="spa"))
        elif static_dir:
            logger.warning("static_dir %s has no index.html: the web app is not served", static_dir)
        return routes

    async def healthz(self, _: Request) -> JSONResponse:
        """Process up; 503 when the database does not answer; each provider's key state."""
        database_ok = await ping(self._engine)
        providers = {
            v.provider.id: ("ok" if v.keys.available else "unavailable")
            for v in self._verifier.providers
        }
        degraded = any(state != "ok" for state in providers.values())
        body = {
            "status": "unavailable" if not database_ok else ("degraded" if degraded else "ok"),
            "database": "ok" if database_ok else "unavailable",
            "providers": providers,
        }
        return JSONResponse(body, status_code=200 if database_ok else 503)

    async def public_config(self, _: Request) -> JSONResponse:
        """What the web app needs to sign in: public client settings only."""
        providers = [
            {
                "id": v.provider.id,
                "name": v.provider.display_name,
                "issuer": v.provider.issuer,
                "client_id": v.provider.client_id,
                "scopes": v.provider.scopes,
                "end_session": bool(v.keys.metadata and v.keys.metadata.end_session_endpoint),
            }
            for v in self._verifier.providers
        ]
        body = {
            "providers": providers,
            "max_message_chars": self._settings.server.max_message_chars,
        }
        return JSONResponse(body, headers=NO_STORE)

    async def backchannel_logout(self, request: Request) -> Response:
        """OIDC Back-Channel Logout 1.0, section 2.8: 200 when done, 400 with an error otherwise."""
        provider_id = request.path_params["provider_id"]
        try:
            ended = await self._logout(provider_id, await _logout_token(request))
        except AppError as exc:
            logger.info("back-channel logout for %s refused: %s (%s)", provider_id, exc.code, exc)
            body = {"error": "invalid_request", "error_description": exc.code}
            return JSONResponse(body, status_code=400, headers=NO_STORE)
        logger.info("back-channel logout for %s ended %d sockets", provider_id, ended)
        return Response(status_code=200, headers=NO_STORE)
