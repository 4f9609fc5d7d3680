"""A provider in ``mode = "id_token_only"`` end to end: the ID token alone, never in the access slot."""

from collections.abc import Iterator

import pytest

from devidp.process import DevIdp
from tests.e2e.conftest import Accounts
from tests.support.clients import connected, refusal
from tests.support.live import LiveServer, dev_provider, make_settings


@pytest.fixture
def id_token_server(devidp: DevIdp, sqlite_url: str) -> Iterator[LiveServer]:
    provider = dev_provider(devidp.issuer, mode="id_token_only", audience="", required_scopes=[])
    with LiveServer(make_settings(database_url=sqlite_url, providers=[provider])) as live:
        yield live


async def test_an_id_token_alone_connects_and_speaks_as_its_subject(
    id_token_server: LiveServer, accounts: Accounts
) -> None:
    tokens = accounts.tokens("alice")
    client = await connected(id_token_server.url, {"id_token": tokens.id_token})
    try:
        ack = await client.call("send_message", {"room": "general", "text": "id token only"})
        refreshed = await client.call("refresh_token", {"id_token": tokens.id_token})
    finally:
        await client.close()
    assert ack["message"]["sender"]["subject"] == "u-alice-0001"
    assert refreshed["ok"] is True


async def test_id_token_only_refuses_tokens_in_the_access_slot(
    id_token_server: LiveServer, accounts: Accounts
) -> None:
    tokens = accounts.tokens("alice")
    both = {"access_token": tokens.id_token, "id_token": tokens.id_token}
    assert (await refusal(id_token_server.url, both))["code"] == "invalid_token"
    real = {"access_token": tokens.access_token, "id_token": tokens.id_token}
    assert (await refusal(id_token_server.url, real))["code"] == "invalid_token"


async def test_an_id_token_alone_is_refused_where_access_tokens_are_required(
    server: LiveServer, accounts: Accounts
) -> None:
    only_id = {"id_token": accounts.tokens("alice").id_token}
    assert (await refusal(server.url, only_id))["code"] == "invalid_request"
