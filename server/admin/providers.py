"""Admin routes for identity providers: list, create, change, delete, test, preview."""

from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from server.admin.errors import BadRequestError
from server.admin.guard import Admin
from server.admin.requests import if_match, json_object, sample_inputs
from server.admin.responses import Table, json_response
from server.admin.views import preview_view, provider_view
from server.audit import AuditLog
from server.chat import RoomCuration
from server.identity import Clock, IdentityError, TokenVerifier
from server.providers import ProviderRegistry, probe
from server.sessions import ConnectStats, Presence
from server.storage import StoredProvider


class ProviderRoutes:
    def __init__(
        self,
        registry: ProviderRegistry,
        verifier: TokenVerifier,
        rooms: RoomCuration,
        audit: AuditLog,
        http: httpx.AsyncClient,
        monitor: "ProviderMonitor",
    ) -> None:
        self._registry = registry
        self._verifier = verifier
        self._rooms = rooms
        self._audit = audit
        self._http = http
        self._monitor = monitor

    def table(self) -> Table:
        return [
            ("GET", "/providers", self.list_providers),
            ("POST", "/providers", self.create_provider),
            ("POST", "/providers/test", self.test_provider),
            ("POST", "/providers/{provider_id}/preview", self.preview_provider),
            ("GET", "/providers/{provider_id}", self.get_provider),
            ("PATCH", "/providers/{provider_id}", self.update_provider),
            ("DELETE", "/providers/{provider_id}", self.delete_provider),
        ]

    async def _view(self, stored: StoredProvider) -> dict[str, Any]:
        differences = self._registry.file_differences().get(stored.id)
        view = provider_view(stored, self._verifier.for_provider(stored.id), differences)
        view["status"].update(await self._monitor.activity(stored.id))
        return view

    async def list_providers(self, _: Request, __: Admin) -> Response:
        await self._monitor.refresh()
        return json_response({"providers": [await self._view(p) for p in self._registry.list()]})

    async def get_provider(self, request: Request, _: Admin) -> Response:
        stored = self._registry.get(request.path_params["provider_id"])
        await self._monitor.refresh()
        return json_response({"provider": await self._view(stored)})

    async def create_provider(self, request: Request, admin: Admin) -> Response:
        stored = await self._registry.create(admin.actor, await json_object(request))
        return json_response({"provider": await self._view(stored)}, 201)

    async def update_provider(self, request: Request, admin: Admin) -> Response:
        version = if_match(request)
        patch = await json_object(request)
        provider_id = request.path_params["provider_id"]
        stored = await self._registry.update(admin.actor, provider_id, patch, version)
        return json_response({"provider": await self._view(stored)})

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

    async def preview_provider(self, request: Request, _: Admin) -> Response:
        """Never logged, never stored: the body holds tokens."""
        samples = sample_inputs(await json_object(request))
        provider_id = request.path_params["provider_id"]
        try:
            identity, refusal = await self._registry.preview(provider_id, **samples)
        except IdentityError as exc:
            return json_response({"preview": {"accepted": False, "error": exc.public()}})
        rooms = self._rooms.visible_to(identity)
        return json_response({"preview": preview_view(identity, refusal, rooms)})


class ProviderMonitor:
    """What a provider is doing: connects by outcome in the last hour (this process), and its
    users' live sockets (every process)."""

    def __init__(self, stats: ConnectStats, presence: Presence, clock: Clock) -> None:
        self._stats = stats
        self._presence = presence
        self._clock = clock

    async def refresh(self) -> None:
        """This process's part of the counts made current (the others' are recent)."""
        await self._presence.publish()

    async def activity(self, provider_id: str) -> dict[str, Any]:
        return {
            "connects_last_hour": self._stats.last_hour(provider_id, self._clock.now()),
            "live_sessions": await self._presence.count_provider(provider_id),
        }
