"""AdminApi: JSON under ``/api/admin``. Every route goes through one guard, on every call."""

import logging
from collections.abc import Callable, Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.admin.errors import NotFoundError
from server.admin.guard import Admin, AdminGuard
from server.admin.responses import Handler, Table, error_response, json_response
from server.admin.views import identity_view
from server.errors import AppError, UnexpectedError
from server.http import ApiRoute

logger = logging.getLogger(__name__)

PREFIX = "/api/admin"
EVERY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class AdminApi:
    """The admin routes; ``routes()`` is the whole list (tests walk it to check the guard)."""

    def __init__(self, guard: AdminGuard, tables: Iterable[Table]) -> None:
        self._guard = guard
        self._table: Table = [("GET", "/me", self.me)]
        for table in tables:
            self._table.extend(table)

    def routes(self) -> list[Route]:
        by_path: dict[str, dict[str, Handler]] = {}
        for method, path, handler in self._table:
            by_path.setdefault(path, {})[method] = handler
        routes = [
            ApiRoute(PREFIX + path, self._guarded(path, handlers), methods=list(handlers))
            for path, handlers in by_path.items()
        ]
        # Anything else under the prefix: the guard first (no route discovery without a token),
        # then a 404 in the API's own error shape.
        fallback = self._guarded("/{rest}", dict.fromkeys(EVERY_METHOD, self.not_found))
        return [*routes, ApiRoute(PREFIX + "/{rest:path}", fallback, methods=EVERY_METHOD)]

    def _guarded(self, path: str, handlers: dict[str, Handler]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                what = f"{request.method} {path}"
                # The web app asks /me of every signed-in user: its "no" is not worth an entry.
                admin = await self._guard.admit(request.headers, what, audit_refusal=path != "/me")
                # Starlette answers HEAD on GET routes: the GET handler runs, the body is dropped.
                method = "GET" if request.method == "HEAD" else request.method
                return await handlers[method](request, admin)
            except AppError as exc:
                logger.info("admin %s %s refused: %s (%s)", request.method, path, exc.code, exc)
                return error_response(exc)
            except Exception:
                logger.exception("admin %s %s failed", request.method, path)
                return error_response(UnexpectedError())

        return endpoint

    async def not_found(self, request: Request, _: Admin) -> Response:
        raise NotFoundError(request.url.path[:200])

    async def me(self, _: Request, admin: Admin) -> Response:
        return json_response({"admin": identity_view(admin.identity)})
