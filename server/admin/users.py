"""Admin routes for users: search, look up, block and unblock, end sessions."""

from starlette.requests import Request
from starlette.responses import Response

from server.accounts import AccountService
from server.admin.guard import Admin
from server.admin.requests import MAX_PAGE, query_int, query_str
from server.admin.responses import Table, json_response
from server.admin.views import user_view


class UserRoutes:
    def __init__(self, accounts: AccountService) -> None:
        self._accounts = accounts

    def table(self) -> Table:
        return [
            ("GET", "/users", self.list_users),
            ("GET", "/users/{user_id:int}", self.get_user),
            ("POST", "/users/{user_id:int}/block", self.block_user),
            ("POST", "/users/{user_id:int}/unblock", self.unblock_user),
            ("POST", "/users/{user_id:int}/end-sessions", self.end_user_sessions),
        ]

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
