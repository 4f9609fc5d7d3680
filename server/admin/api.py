"""AdminApi: JSON under ``/api/admin``. Every route goes through one guard, on every call."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.accounts import AccountService
from server.admin.errors import BadRequestError, NotFoundError, status_for
from server.admin.guard import Admin, AdminGuard
from server.admin.requests import (
    MAX_PAGE,
    if_match,
    json_object,
    query_int,
    query_str,
    sample_inputs,
)
from server.admin.views import (
    audit_view,
    head_view,
    identity_view,
    preview_view,
    provider_view,
    report_view,
    room_view,
    user_view,
)
from server.audit import AuditLog, parse_head
from server.chat import RoomCuration
from server.errors import AppError, UnexpectedError
from server.http import NO_STORE, ApiRoute
from server.identity import IdentityError, TokenVerifier
from server.providers import ProviderRegistry, probe
from server.storage import StoredProvider

logger = logging.getLogger(__name__)

PREFIX = "/api/admin"
Handler = Callable[[Request, Admin], Awaitable[Response]]


def json_response(body: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers=NO_STORE)


def error_response(error: AppError) -> JSONResponse:
    status = status_for(error)
    response = json_response({"error": error.public()}, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = f'Bearer error="{error.code}"'
    return response


class AdminApi:
    """The admin routes; ``routes()`` is the whole list (tests walk it to check the guard)."""

    def __init__(
        self,
        guard: AdminGuard,
        registry: ProviderRegistry,
        accounts: AccountService,
        rooms: RoomCuration,
        verifier: TokenVerifier,
        audit: AuditLog,
        http: httpx.AsyncClient,
    ) -> None:
        self._guard = guard
        self._registry = registry
        self._accounts = accounts
        self._rooms = rooms
        self._verifier = verifier
        self._audit = audit
        self._http = http

    def routes(self) -> list[Route]:
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/me", self.me),
            ("GET", "/providers", self.list_providers),
            ("POST", "/providers", self.create_provider),
            ("POST", "/providers/test", self.test_provider),
            ("POST", "/providers/{provider_id}/preview", self.preview_provider),
            ("GET", "/providers/{provider_id}", self.get_provider),
            ("PATCH", "/providers/{provider_id}", self.update_provider),
            ("DELETE", "/providers/{provider_id}", self.delete_provider),
            ("GET", "/rooms", self.list_rooms),
            ("POST", "/rooms", self.create_room),
            ("GET", "/rooms/{slug}", self.get_room),
            ("PATCH", "/rooms/{slug}", self.update_room),
            ("DELETE", "/rooms/{slug}", self.delete_room),
            ("GET", "/users", self.list_users),
            ("GET", "/users/{user_id:int}", self.get_user),
            ("POST", "/users/{user_id:int}/block", self.block_user),
            ("POST", "/users/{user_id:int}/unblock", self.unblock_user),
            ("POST", "/users/{user_id:int}/end-sessions", self.end_user_sessions),
            ("GET", "/audit", self.audit_page),
            ("GET", "/audit/head", self.audit_head),
            ("GET", "/audit/verify", self.audit_verify),
        ]
        by_path: dict[str, dict[str, Handler]] = {}
        for method, path, handler in table:
            by_path.setdefault(path, {})[method] = handler
        routes = [
            ApiRoute(PREFIX + path, self._guarded(path, handlers), methods=list(handlers))
            for path, handlers in by_path.items()
        ]
        # Anything else under the prefix: the guard first (no route discovery without a token),
        # then a 404 in the API's own error shape.
        every = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        fallback = self._guarded("/{rest}", dict.fromkeys(every, self.not_found))
        return [*routes, ApiRoute(PREFIX + "/{rest:path}", fallback, methods=every)]

    def _guarded(self, path: str, handlers: dict[str, Handler]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                admin = await self._guard.admit(request.headers, f"{request.method} {path}")
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

    def _provider(self, stored: StoredProvider) -> dict[str, Any]:
        differences = self._registry.file_differences()
        verifier = self._verifier.for_provider(stored.id)
        return provider_view(stored, verifier, differences.get(stored.id))

    async def list_providers(self, _: Request, __: Admin) -> Response:
        return json_response({"providers": [self._provider(p) for p in self._registry.list()]})

    async def get_provider(self, request: Request, _: Admin) -> Response:
        stored = self._registry.get(request.path_params["provider_id"])
        return json_response({"provider": self._provider(stored)})

    async def create_provider(self, request: Request, admin: Admin) -> Response:
        stored = await self._registry.create(admin.actor, await json_object(request))
        return json_response({"provider": self._provider(stored)}, 201)

    async def update_provider(self, request: Request, admin: Admin) -> Response:
        version = if_match(request)
        patch = await json_object(request)
        provider_id = request.path_params["provider_id"]
        stored = await self._registry.update(admin.actor, provider_id, patch, version)
        return json_response({"provider": self._provider(stored)})

    async def delete_provider(self, request: Request, admin: Admin) -> Response:
        ended = await self._registry.delete(admin.actor, request.path_params["provider_id"])
        return json_response({"deleted": True, "ended_sessions": ended})

    async def test_provider(self, request: Request, admin: Admin) -> Response:
        body = await json_object(request)
        issuer = body.get("issuer")
        if not isinstance(issuer, str) or not issuer or len(issuer) > 2048:
            raise BadRequestError("issuer must be a URL")
        algorithms = body.get("algorithms")
        if algorithms is not None and not (
            isinstance(algorithms, list) and all(isinstance(a, str) for a in algorithms)
        ):
            raise BadRequestError("algorithms must be a list of names")
        report = await probe(self._http, issuer, algorithms=algorithms)
        await self._audit.record(
            admin.actor, "provider.test", "issuer", issuer=issuer[:512], ok=report.ok
        )
        return json_response({"report": report.to_json()})

    async def list_rooms(self, _: Request, __: Admin) -> Response:
        return json_response({"rooms": [room_view(r) for r in await self._rooms.list()]})

    async def get_room(self, request: Request, _: Admin) -> Response:
        return json_response(
            {"room": room_view(await self._rooms.get(request.path_params["slug"]))}
        )

    async def create_room(self, request: Request, admin: Admin) -> Response:
        room = await self._rooms.create(admin.actor, await json_object(request))
        return json_response({"room": room_view(room)}, 201)

    async def update_room(self, request: Request, admin: Admin) -> Response:
        patch = await json_object(request)
        room = await self._rooms.update(admin.actor, request.path_params["slug"], patch)
        return json_response({"room": room_view(room)})

    async def delete_room(self, request: Request, admin: Admin) -> Response:
        await self._rooms.delete(admin.actor, request.path_params["slug"])
        return json_response({"deleted": True})

    async def list_users(self, request: Request, _: Admin) -> Response:
        after = query_int(request, "after", 0, 0, 2**62)
        limit = query_int(request, "limit", 50, 1, MAX_PAGE)
        users = await self._accounts.search(query_str(request, "q", 200), after, limit)
        next_after = users[-1].id if len(users) == limit else None
        return json_response({"users": [user_view(u) for u in users], "next_after": next_after})

    async def get_user(self, request: Request, _: Admin) -> Response:
        user = await self._accounts.get(request.path_params["user_id"])
        return json_response({"user": user_view(user, await self._accounts.live_sessions(user))})

    async def block_user(self, request: Request, admin: Admin) -> Response:
        return await self._set_blocked(request, admin, blocked=True)

    async def unblock_user(self, request: Request, admin: Admin) -> Response:
        return await self._set_blocked(request, admin, blocked=False)

    async def _set_blocked(self, request: Request, admin: Admin, *, blocked: bool) -> Response:
        user_id = request.path_params["user_id"]
        user, ended = await self._accounts.block(admin.actor, user_id, blocked)
        return json_response({"user": user_view(user), "ended_sessions": ended})

    async def end_user_sessions(self, request: Request, admin: Admin) -> Response:
        ended = await self._accounts.end_sessions(admin.actor, request.path_params["user_id"])
        return json_response({"ended_sessions": ended})

    async def preview_provider(self, request: Request, _: Admin) -> Response:
        """Never logged, never stored: the body holds tokens."""
        body = await json_object(request)
        samples = sample_inputs(body)
        provider_id = request.path_params["provider_id"]
        try:
            identity, refusal = await self._registry.preview(provider_id, **samples)
        except IdentityError as exc:
            return json_response({"preview": {"accepted": False, "error": exc.public()}})
        return json_response(
            {"preview": preview_view(identity, refusal, self._rooms.visible_to(identity))}
        )

    async def audit_page(self, request: Request, _: Admin) -> Response:
        after = query_int(request, "after", 0, 0, 2**62)
        limit = query_int(request, "limit", 100, 1, MAX_PAGE)
        records = await self._audit.page(
            after,
            limit,
            action=query_str(request, "action", 64),
            actor_subject=query_str(request, "actor"),
        )
        next_after = records[-1].id if len(records) == limit else None
        return json_response(
            {"entries": [audit_view(r) for r in records], "next_after": next_after}
        )

    async def audit_head(self, _: Request, __: Admin) -> Response:
        return json_response({"head": head_view(await self._audit.head())})

    async def audit_verify(self, request: Request, _: Admin) -> Response:
        raw = query_str(request, "head", 100)
        head = parse_head(raw) if raw is not None else None
        return json_response({"report": report_view(await self._audit.verify(head))})
