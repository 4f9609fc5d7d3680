"""Tokens built to hurt the parser, against the real server: JSON nested past Python's recursion
limit and oversized tokens are refused with their code, cheaply, and without a traceback."""

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import socketio.exceptions

from tests.support.clients import ChatClient, connected, refusal
from tests.support.databases import migrated_database
from tests.support.fake_idp import FakeIdP
from tests.support.hostile import deep_json, signed_compact
from tests.support.live import LiveServer, make_settings

LOGOUT_EVENT: dict[str, dict[str, str]] = {"http://schemas.openid.net/event/backchannel-logout": {}}


@pytest.fixture
def idp() -> FakeIdP:
    return FakeIdP()


@pytest.fixture
def server(idp: FakeIdP, tmp_path: Path) -> Iterator[LiveServer]:
    table = {"id": "fake", "issuer": idp.issuer, "client_id": idp.client_id}
    with migrated_database("sqlite", tmp_path) as url:
        settings = make_settings(database_url=url, providers=[{**table, "audience": idp.audience}])
        with LiveServer(settings, http_transport=idp.transport()) as live:
            yield live


def _no_traceback_logged(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]
    assert "internal_error" not in caplog.text


async def test_tokens_nested_past_the_recursion_limit_are_refused_as_invalid_token(
    server: LiveServer, idp: FakeIdP, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    header = json.dumps({"alg": "RS256", "kid": "rsa-1"}).encode()
    deep_access = signed_compact(header, deep_json(idp.claims()), idp.rsa)
    deep_id = signed_compact(deep_json({"alg": "RS256", "kid": "rsa-1"}), b"{}", idp.rsa)
    for auth in (
        {"access_token": deep_access, "id_token": idp.id_token()},
        {"access_token": idp.access_token(), "id_token": deep_id},
    ):
        assert await refusal(server.url, auth) == {"code": "invalid_token", "retryable": False}
    claims = idp.claims(aud=idp.client_id, events=LOGOUT_EVENT, scope=None, client_id=None)
    deep_logout = signed_compact(header, deep_json(claims), idp.rsa)
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{server.url}/oidc/backchannel-logout/fake", data={"logout_token": deep_logout}
        )
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": "invalid_token"}
    _no_traceback_logged(caplog)
    client = await connected(server.url, idp.tokens())  # an honest user is still served
    await client.close()


async def test_an_oversized_token_is_refused_as_invalid_token(
    server: LiveServer, idp: FakeIdP, caplog: pytest.LogCaptureFixture
) -> None:
    # Just under max_payload_bytes (64 KiB), so the frame reaches the verifier.
    auth = {"access_token": idp.access_token(padding="x" * 35_000), "id_token": idp.id_token()}
    assert await refusal(server.url, auth) == {"code": "invalid_token", "retryable": False}
    # A megabyte is cut off by the WebSocket layer (max_payload_bytes) before any parsing.
    client = ChatClient()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.sio.connect(
            server.url,
            auth={"access_token": "x" * 1_000_000, "id_token": "y"},
            transports=["websocket"],
            wait_timeout=2,
        )
    assert client.connect_error is None  # closed, not answered
    _no_traceback_logged(caplog)
    honest = await connected(server.url, idp.tokens())
    await honest.close()
