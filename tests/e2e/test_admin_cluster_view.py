"""The admin's view of the server processes, on one process (the cluster's is in test_cluster)."""

import httpx

from server.admin import PREFIX
from tests.e2e.conftest import Accounts
from tests.e2e.test_admin_api import admin_server, headers
from tests.e2e.test_sessions import EventClient
from tests.support.live import LiveServer

__all__ = ["admin_server"]


async def test_one_process_lists_itself_with_its_live_sockets_and_users(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    clients = [EventClient(), EventClient(), EventClient()]
    for client, user in zip(clients, ("alice", "alice", "bob"), strict=True):
        await client.connect(admin_server.url, accounts.auth(user))
    try:
        async with httpx.AsyncClient(base_url=admin_server.url) as http:
            response = await http.get(PREFIX + "/cluster", headers=headers(accounts, "dana"))
        assert response.status_code == 200, response.text
        cluster = response.json()["cluster"]
        assert cluster["mode"] == "single"
        assert cluster["status"] == "off"
        assert cluster["online_users"] == 2
        [node] = cluster["nodes"]
        assert node["id"] == cluster["node"]
        assert node["here"] is True
        assert node["alive"] is True
        assert (node["sockets"], node["users"]) == (3, 2)
        assert node["heartbeat_at"] >= node["started_at"]
    finally:
        for client in clients:
            await client.close()
