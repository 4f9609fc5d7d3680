"""Starlette routes: health, the SPA's public sign-in settings, back-channel logout, the SPA."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from http import HTTPStatus
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ExceptionHandler, Scope

from server.config import ProviderConfig, Settings
from server.errors import AppError
from server.health import Health
from server.identity import InvalidRequestError, TokenVerifier

logger = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}
FORM = "application/x-www-form-urlencoded"
MAX_LOGOUT_BODY = 32 * 1024
MAX_FORM_FIELDS = 10
# A provider sends its few hundred bytes at once (and itself gives up after a few seconds):
# a body that trickles in is someone holding a connection open.
LOGOUT_READ_SECONDS = 5.0
# The paths the web app routes itself ("." is "/", as StaticFiles normalizes it); any other path
# that is not a file is a 404, so a typo or a probe never gets a page that looks like a success.
CLIENT_ROUTES = frozenset({".", "callback", "admin"})

LogoutHandler = Callable[[str, object], Awaitable[int]]


def _declared_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise InvalidRequestError("logout request: bad Content-Length")
    return int(value)


def _require_form(headers: Headers) -> None:
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM:
        raise InvalidRequestError("logout request is not a form")
    declared = _declared_length(headers)
    if declared is not None and declared > MAX_LOGOUT_BODY:
        raise InvalidRequestError("logout request too large (Content-Length)")


async def read_body(
    request: Request,
    max_bytes: int,
    seconds: float,
    refuse: Callable[[str], AppError] = InvalidRequestError,
) -> bytes:
    """The body, refused (``refuse(detail)``, an ``invalid_request``) as soon as it passes
    ``max_bytes`` or takes longer than ``seconds`` (Content-Length or not)."""
    body = bytearray()
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    raise refuse("request body too large")
    except TimeoutError as exc:
        raise refuse("request body too slow") from exc
    except ClientDisconnect as exc:
        raise refuse("the client went away") from exc
    return bytes(body)


def _only_field(body: bytes, name: str) -> str:
    try:
        # A form body is ASCII; its %-escapes must be UTF-8 (UnicodeError is a ValueError).
        fields = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            max_num_fields=MAX_FORM_FIELDS,
            errors="strict",
        )
        values = [value for key, value in fields if key == name]
    except ValueError as exc:
        raise InvalidRequestError("logout request is not a valid form") from exc
    if len(values) != 1 or not values[0]:
        raise InvalidRequestError(f"logout request without exactly one {name}")
    return values[0]


async def _logout_token(request: Request) -> str:
    _require_form(request.headers)
    body = await read_body(request, MAX_LOGOUT_BODY, LOGOUT_READ_SECONDS)
    return _only_field(body, "logout_token")


class ApiRoute(Route):
    """A route that owns its path for every method: a wrong one is 405 here, never the web app."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        return (Match.FULL if match is Match.PARTIAL else match), child_scope


class SpaFiles(StaticFiles):
    """The built web app: its files, ``index.html`` for its client routes, 404 for the rest.

    Files are served only from inside ``static_dir`` (symlinks are not followed out of it) and
    never a dotfile; each answer is revalidated (ETag), so a new build is seen at once.
    """

    async def get_response(self, path: str, scope: Scope) -> Response:
        if any(part.startswith(".") for part in PurePath(path).parts):
            raise HTTPException(status_code=404)
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404 or path not in CLIENT_ROUTES:
                raise
            return await super().get_response("index.html", scope)

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        return _internal_error(request, exc)
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    headers = {**(exc.headers or {}), **NO_STORE}
    return JSONResponse({"error": code}, status_code=exc.status_code, headers=headers)


def _internal_error(_: Request, __: Exception) -> Response:
    # Starlette re-raises after this answer, so the traceback still reaches the server log.
    return JSONResponse({"error": "internal_error"}, status_code=500, headers=NO_STORE)


# For Starlette(exception_handlers=...): every error answer of ours is JSON, never a traceback.
ERROR_HANDLERS: dict[Any, ExceptionHandler] = {
    HTTPException: _http_error,
    Exception: _internal_error,
}


def content_security_policy(providers: Iterable[ProviderConfig]) -> str:
    """The SPA's CSP: scripts only from us; the network only to us and the enabled providers."""
    issuers = " ".join(sorted({p.issuer.rstrip("/") for p in providers if p.enabled}))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {issuers}; form-action 'self' {issuers}; frame-src {issuers}; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


class WebRoutes:
    """The HTTP side of the server, apart from Socket.IO."""

    def __init__(
        self,
        settings: Settings,
        verifier: TokenVerifier,
        health: Health,
        logout: LogoutHandler,
        metrics: Callable[[Request], Awaitable[Response]] | None = None,
    ) -> None:
        self._settings = settings
        self._verifier = verifier
        self._health = health
        self._logout = logout
        self._metrics = metrics  # /metrics on this port, when a token is configured

    def routes(self) -> list[Route | Mount]:
        routes: list[Route | Mount] = [
            ApiRoute("/healthz", self.healthz, methods=["GET"]),
            ApiRoute("/livez", self.livez, methods=["GET"]),
            ApiRoute("/readyz", self.readyz, methods=["GET"]),
            ApiRoute("/config", self.public_config, methods=["GET"]),
            ApiRoute(
                "/oidc/backchannel-logout/{provider_id}", self.backchannel_logout, methods=["POST"]
            ),
        ]
        if self._metrics is not None:
            routes.append(ApiRoute("/metrics", self._metrics, methods=["GET"]))
        static_dir = self._settings.server.static_dir
        if static_dir and (Path(static_dir) / "index.html").is_file():
            routes.append(Mount("/", app=SpaFiles(directory=static_dir), name="spa"))
        elif static_dir:
            logger.warning("static_dir %s has no index.html: the web app is not served", static_dir)
        return routes

    async def healthz(self, _: Request) -> JSONResponse:
        """Process up; 503 when the database does not answer; each provider's key state; the
        cluster's state (``off`` for one process, ``degraded`` while Redis fails this node)."""
        status, body = await self._health.summary()
        return JSONResponse(body, status_code=status, headers=NO_STORE)

    async def livez(self, _: Request) -> JSONResponse:
        """The process serves: nothing it depends on is asked."""
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    async def readyz(self, _: Request) -> JSONResponse:
        """May take traffic: database, schema, a usable provider, not shutting down."""
        status, body = await self._health.readiness()
        return JSONResponse(body, status_code=status, headers=NO_STORE)

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
                "mode": v.provider.mode,
            }
            for v in sorted(self._verifier.providers, key=lambda v: v.provider.display.order)
            if v.provider.enabled and not v.provider.display.hidden
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
            # %.80r: the id comes from the URL; repr keeps a newline in it from forging log lines.
            logger.info(
                "back-channel logout for %.80r refused: %s (%s)", provider_id, exc.code, exc
            )
            body = {"error": "invalid_request", "error_description": exc.code}
            return JSONResponse(body, status_code=400, headers=NO_STORE)
        logger.info("back-channel logout for %.80r ended %d sockets", provider_id, ended)
        return Response(status_code=200, headers=NO_STORE)
