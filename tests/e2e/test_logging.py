"""Tokens and raw claims never reach the logs, whatever happens at connect."""

import logging

import pytest

from tests.e2e.conftest import Accounts
from tests.support.clients import connected, refusal
from tests.support.live import LiveServer


async def test_no_token_or_claim_is_logged(
    server: LiveServer, accounts: Accounts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = accounts.tokens("alice")
    client = await connected(server.url, accounts.auth("alice"))
    await client.call("send_message", {"room": "general", "text": "hi"})
    await client.close()
    tampered = tokens.access_token[:-4] + "AAAA"
    assert (await refusal(server.url, {"access_token": tampered, "id_token": tokens.id_token}))[
        "code"
    ] == "invalid_token"
    assert (
        await refusal(server.url, {"access_token": tokens.id_token, "id_token": tokens.id_token})
    )["code"] == "invalid_token"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "refused: invalid_token" in logged  # the log does say why
    for token in (tokens.access_token, tokens.id_token, tampered):
        for part in token.split("."):
            assert part not in logged
    assert "alice@example.test" not in logged
