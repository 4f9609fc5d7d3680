"""HTTP routes on the real server: health, public config, the web app with its security headers.

(starlette's httpx.Client now wants the httpx2 package; a real uvicorn on 127.0.0.1 needs nothing more.)"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.databases import migrated_database
from tests.support.fake_idp import FakeIdP
from tests.support.live import LiveServer, make_settings


@pytest.fixture
def idp() -> FakeIdP:
    return FakeIdP()


@pytest.fixture
def client(idp: FakeIdP, database_url: str, tmp_path: Path) -> Iterator[httpx.Client]:
    static = tmp_path / "dist"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><title>chat</title>")
    (static / "assets" / "app.js").write_text("console.log(1)")
    settings = make_settings(
        database_url=database_url,
        providers=[
            {
                "id": "corp",
                "name": "Corp",
                "issuer": idp.issuer,
                "client_id": "spa",
                "audience": "api",
            }
        ],
        static_dir=str(static),
    )
    with (
        LiveServer(settings, http_transport=idp.transport()) as live,
        httpx.Client(base_url=live.url) as http,
    ):
        yield http


def test_healthz_reports_database_and_providers(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "providers": {"corp": "ok"}}


def test_healthz_says_which_provider_is_down(idp: FakeIdP, tmp_path: Path) -> None:
    idp.down = True
    with migrated_database("sqlite", tmp_path) as url:
        settings = make_settings(
            database_url=url,
            providers=[{"id": "corp", "issuer": idp.issuer, "client_id": "spa", "audience": "api"}],
        )
        with LiveServer(settings, http_transport=idp.transport()) as live:
            body = httpx.get(live.url + "/healthz").json()
    assert body == {"status": "degraded", "database": "ok", "providers": {"corp": "unavailable"}}


def test_public_config_lists_providers_without_secrets(client: httpx.Client, idp: FakeIdP) -> None:
    body = client.get("/config").json()
    assert body == {
        "providers": [
            {
                "id": "corp",
                "name": "Corp",
                "issuer": idp.issuer,
                "client_id": "spa",
                "scopes": "openid profile email",
                "end_session": True,
            }
        ],
        "max_message_chars": 4000,
    }


def test_spa_routes_fall_back_to_index_and_assets_do_not(client: httpx.Client) -> None:
    assert client.get("/callback?code=x").text.startswith("<!doctype html>")
    assert client.get("/assets/app.js").text == "console.log(1)"
    assert client.get("/assets/missing.js").status_code == 404


def test_responses_carry_a_strict_csp(client: httpx.Client, idp: FakeIdP) -> None:
    headers = client.get("/").headers
    csp = headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "unsafe-inline" not in csp
    assert f"connect-src 'self' {idp.issuer}" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
