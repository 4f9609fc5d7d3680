"""Tokens and raw claims never reach the logs, whatever happens at connect."""

import asyncio
import json
import logging
from pathlib import Path

import pytest

from devidp.process import DevIdp
from tests.e2e.conftest import Accounts
from tests.e2e.test_logout_cluster import ServerProcess
from tests.support.clients import connected, refusal
from tests.support.databases import migrated_database
from tests.support.live import LiveServer, dev_provider, free_port
from tests.support.toml import toml_table


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


async def test_json_log_lines_carry_the_context_and_no_token_or_text(
    devidp: DevIdp, accounts: Accounts, tmp_path: Path
) -> None:
    """A real ``chat-server serve`` with ``log_format = "json"``: every line of its output is one
    JSON object, connects and refusals carry their context, and no secret or chat text is in it."""
    port = free_port()
    config = tmp_path / "json.toml"
    with migrated_database("sqlite", tmp_path) as url:
        server = {"host": "127.0.0.1", "port": port, "log_level": "info", "log_format": "json"}
        server["allowed_origins"] = ["http://127.0.0.1:8000"]
        config.write_text(
            "\n".join(
                [
                    toml_table("[server]", server),
                    toml_table("[database]", {"url": url}),
                    toml_table("[metrics]", {"port": 0}),
                    toml_table("[[providers]]", dev_provider(devidp.issuer)),
                    toml_table("[[rooms]]", {"slug": "general", "name": "General"}),
                ]
            )
        )
        tokens = accounts.tokens("alice")
        with ServerProcess(config, port) as process:
            client = await connected(process.url, accounts.auth("alice"))
            await client.call("join", {"room": "general"})
            await client.call("send_message", {"room": "general", "text": "secret plans"})
            await client.call("join", {"room": "no-such-room"})
            await client.close()
            assert (await refusal(process.url, {"access_token": "x.y.z"}))[
                "code"
            ] == "invalid_token"
            await asyncio.sleep(0.3)
            text = process.log_text()
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert entries, text
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    connect = next(e for e in entries if e["message"].startswith("connect ") and "provider" in e)
    assert connect["provider"] == "dev"
    assert len(connect["subject_hash"]) == 16
    assert connect["sid"]
    refused_join = next(e for e in entries if e.get("event") == "join")
    assert refused_join["code"] == "room_not_found"
    assert any(e.get("code") == "invalid_token" and "sid" in e for e in entries)
    for token in (tokens.access_token, tokens.id_token):
        for part in token.split("."):
            assert part not in text
    assert "secret plans" not in text
    assert "alice@example.test" not in text
