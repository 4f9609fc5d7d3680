"""Admin routes for rooms: list, create, change (name, groups, archive), delete, impact."""

from starlette.requests import Request
from starlette.responses import Response

from server.admin.errors import BadRequestError
from server.admin.guard import Admin
from server.admin.requests import json_object
from server.admin.responses import Table, json_response
from server.admin.views import room_view
from server.chat import RoomCuration


class RoomRoutes:
    def __init__(self, rooms: RoomCuration) -> None:
        self._rooms = rooms

    def table(self) -> Table:
        return [
            ("GET", "/rooms", self.list_rooms),
            ("POST", "/rooms", self.create_room),
            ("GET", "/rooms/{slug}", self.get_room),
            ("PATCH", "/rooms/{slug}", self.update_room),
            ("DELETE", "/rooms/{slug}", self.delete_room),
            ("POST", "/rooms/{slug}/impact", self.room_impact),
        ]

    async def list_rooms(self, _: Request, __: Admin) -> Response:
        return json_response({"rooms": [room_view(r) for r in await self._rooms.list()]})

    async def get_room(self, request: Request, _: Admin) -> Response:
        room = await self._rooms.get(request.path_params["slug"])
        return json_response({"room": room_view(room)})

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

    async def room_impact(self, request: Request, _: Admin) -> Response:
        """What a change of ``allowed_groups`` would do to the users the server knows."""
        groups = (await json_object(request)).get("allowed_groups")
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise BadRequestError("allowed_groups must be a list of group names")
        impact = await self._rooms.impact(request.path_params["slug"], groups)
        return json_response({"impact": impact})
