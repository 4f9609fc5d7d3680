"""The real server on PostgreSQL while its database connections are terminated mid-batch: every
send is answered (ok, or a retryable internal_error), nothing is stored or broadcast twice, and
sending works again right after."""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from devidp.process import DevIdp
from tests.e2e.conftest import Accounts
from tests.support.clients import ChatClient, connected
from tests.support.databases import migrated_database
from tests.support.live import LiveServer, dev_provider, make_settings

pytestmark = pytest.mark.postgres

SENDERS = ("alice", "bob", "carol")
ROUNDS = 3


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with migrated_database("postgresql", tmp_path) as url:
        yield url


@pytest.fixture
def server(devidp: DevIdp, database_url: str) -> Iterator[LiveServer]:
    settings = make_settings(database_url=database_url, providers=[dev_provider(devidp.issuer)])
    with LiveServer(settings) as live:
        yield live


def dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://")


async def send(client: ChatClient, client_id: str) -> dict[str, Any]:
    payload = {"room": "general", "text": f"text of {client_id}", "client_id": client_id}
    return await client.call("send_message", payload)  # answered within 10 s, or TimeoutError


async def _wait_for_a_blocked_insert(admin: asyncpg.Connection) -> None:
    for _ in range(500):
        await admin.execute("SELECT pg_stat_clear_snapshot()")  # fresh within our transaction
        waiting = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no insert waited for the lock")


async def lock_messages(database_url: str) -> asyncpg.Connection:
    """A connection in a transaction holding the lock that inserts into messages wait for."""
    admin = await asyncpg.connect(dsn(database_url))
    await admin.execute("BEGIN; LOCK TABLE messages IN EXCLUSIVE MODE")  # reads still pass
    return admin


async def kill_backends_mid_batch(admin: asyncpg.Connection) -> int:
    """Once a batch's INSERT waits for ``admin``'s lock, terminate every other connection to
    the database, then release the lock; returns how many backends were terminated."""
    try:
        await _wait_for_a_blocked_insert(admin)
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        await admin.execute("ROLLBACK")
        return int(killed)
    finally:
        await admin.close()


def failed_retryably(ack: dict[str, Any]) -> bool:
    error = ack.get("error") or {}
    return ack["ok"] is False and error["code"] == "internal_error" and error["retryable"] is True


async def send_until_stored(client: ChatClient, client_id: str) -> dict[str, Any]:
    for _ in range(5):  # what a client does with a retryable error: send the same client_id again
        ack = await send(client, client_id)
        if ack["ok"]:
            return ack
        assert failed_retryably(ack), ack
    raise AssertionError(f"{client_id} was never stored")


async def stored_client_ids(database_url: str) -> list[str]:
    conn = await asyncpg.connect(dsn(database_url))
    try:
        return [row["client_id"] for row in await conn.fetch("SELECT client_id FROM messages")]
    finally:
        await conn.close()


async def a_round(clients: dict[str, ChatClient], server: LiveServer, number: int) -> list[str]:
    """Everyone sends while the batch in flight loses its connection; returns the failed ids."""
    ids = {user: f"{user}-{number}" for user in clients}
    admin = await lock_messages(server.settings.database.url)
    killer = asyncio.create_task(kill_backends_mid_batch(admin))
    acks = await asyncio.gather(*(send(clients[user], ids[user]) for user in clients))
    assert await asyncio.wait_for(killer, 10) >= 1
    assert all(ack["ok"] or failed_retryably(ack) for ack in acks), acks
    failed = [ids[user] for user, ack in zip(clients, acks, strict=True) if not ack["ok"]]
    assert failed, acks  # the killed batch carried at least one message
    return failed


async def test_killed_database_connections_fail_sends_retryably_and_sending_recovers(
    server: LiveServer, accounts: Accounts
) -> None:
    clients = {user: await connected(server.url, accounts.auth(user)) for user in SENDERS}
    try:
        for client in clients.values():
            assert (await client.call("join", {"room": "general"}))["ok"]
        for user, client in clients.items():
            assert (await send(client, f"{user}-warm-up"))["ok"]  # the user rows exist
        acked: dict[str, int] = {}
        for number in range(ROUNDS):
            for client_id in await a_round(clients, server, number):
                user = client_id.split("-")[0]
                ack = await send_until_stored(clients[user], client_id)
                acked[client_id] = ack["message"]["id"]
        for user, client in clients.items():  # the pool reconnected: plain sends work again
            assert (await send(client, f"{user}-after"))["ok"]
        for client_id, message_id in acked.items():  # a late retry returns the stored message
            again = await send(clients[client_id.split("-")[0]], client_id)
            assert again["ok"]
            assert again["message"]["id"] == message_id
        await asyncio.sleep(0.2)  # the last broadcasts
    finally:
        for client in clients.values():
            await client.close()
    stored = await stored_client_ids(server.settings.database.url)
    assert len(stored) == len(set(stored)) == len(SENDERS) * (ROUNDS + 2)
    for client in clients.values():
        posted = [message["client_id"] for message in client.posted]
        assert sorted(posted) == sorted(stored)  # each stored message broadcast exactly once
