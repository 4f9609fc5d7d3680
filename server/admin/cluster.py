"""Admin route for the cluster: which server processes run, how they are, who is online."""

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from server.admin.guard import Admin
from server.admin.responses import Table, json_response
from server.admin.views import timestamp
from server.sessions import Presence

OnlineUsers = Callable[[], Awaitable[int | None]]


class ClusterRoutes:
    """``GET /cluster``: every node as it last wrote its presence (at most ``[sessions]
    presence_seconds`` old; this node's part is written first), this node's view of Redis, and
    how many users have a live socket anywhere (``None`` while Redis does not answer)."""

    def __init__(
        self,
        presence: Presence,
        status: Callable[[], str],
        online_users: OnlineUsers,
    ) -> None:
        self._presence = presence
        self._status = status
        self._online_users = online_users

    def table(self) -> Table:
        return [("GET", "/cluster", self.cluster)]

    async def cluster(self, _: Request, __: Admin) -> Response:
        await self._presence.publish()
        here = self._presence.node_id
        nodes: list[dict[str, Any]] = [
            {
                "id": node.id,
                "here": node.id == here,
                "alive": alive,
                "started_at": timestamp(node.started_at),
                "heartbeat_at": timestamp(node.heartbeat_at),
                "sockets": node.sockets,
                "users": node.users,
            }
            for node, alive in await self._presence.nodes()
        ]
        status = self._status()
        body = {
            "mode": "single" if status == "off" else "redis",
            "status": status,
            "node": here,
            "nodes": nodes,
            "online_users": await self._online_users(),
        }
        return json_response({"cluster": body})
