"""HTTP routes on the real server: health, public config, the web app with its security headers.

(starlette's httpx.Client now wants the httpx2 package; a real uvicorn on 127.0.0.1 needs nothing more.)"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from server.headers import SecurityHeaders
from server.http import ERROR_HANDLERS
from tests.support.databases import migrated_database
from tests.support.fake_idp import FakeIdP
from tests.support.live import LiveServer, make_settings, serve_asgi

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


@pytest.fixture
def idp() -> FakeIdP:
    return FakeIdP()


@pytest.fixture
def client(idp: FakeIdP, database_url: str, tmp_path: Path) -> Iterator[httpx.Client]:
    static = tmp_path / "dist"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><title>chat</title>")
    (static / "assets" / "app.js").write_text("console.log(1)")
    (static / ".env").write_text("SECRET=1")  # a dotfile left in the build is never served
    (static / "assets" / ".hidden.js").write_text("SECRET")
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
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "providers": {"corp": "ok"},
        "cluster": "off",
    }


def test_healthz_says_which_provider_is_down(idp: FakeIdP, tmp_path: Path) -> None:
    idp.down = True
    with migrated_database("sqlite", tmp_path) as url:
        settings = make_settings(
            database_url=url,
            providers=[{"id": "corp", "issuer": idp.issuer, "client_id": "spa", "audience": "api"}],
        )
        with LiveServer(settings, http_transport=idp.transport()) as live:
            body = httpx.get(live.url + "/healthz").json()
    assert body == {
        "status": "degraded",
        "database": "ok",
        "providers": {"corp": "unavailable"},
        "cluster": "off",
    }


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
                "mode": "access_token",
            }
        ],
        "max_message_chars": 4000,
    }


def test_only_client_routes_fall_back_to_index(client: httpx.Client) -> None:
    assert client.get("/callback?code=x").text.startswith("<!doctype html>")
    assert client.get("/").text.startswith("<!doctype html>")
    assert client.get("/assets/app.js").text == "console.log(1)"
    for path in ("/assets/missing.js", "/rooms/general", "/favicon.ico", "/index.htm"):
        response = client.get(path)
        assert (response.status_code, response.json()) == (404, {"error": "not_found"}), path


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/healthz", {"GET", "HEAD"}),
        ("/config", {"GET", "HEAD"}),
        ("/oidc/backchannel-logout/corp", {"POST"}),
        ("/", {"GET", "HEAD"}),
        ("/assets/app.js", {"GET", "HEAD"}),
    ],
)
def test_every_other_method_is_a_json_405_naming_the_allowed_ones(
    client: httpx.Client, path: str, allowed: set[str]
) -> None:
    for method in sorted(set(METHODS) - allowed):
        response = client.request(method, path)
        assert response.status_code == 405, (method, path)
        assert set(response.headers["allow"].replace(" ", "").split(",")) == allowed
        if method != "HEAD":
            assert response.json() == {"error": "method_not_allowed"}, (method, path)


@pytest.mark.parametrize(
    "path",
    [
        "/healthz/",
        "/healthz/x",
        "/config.json",
        "/oidc",
        "/oidc/backchannel-logout",
        "/oidc/backchannel-logout/corp/x",
        "/.env",
        "/assets/.hidden.js",
    ],
)
def test_paths_next_to_the_api_are_a_json_404_not_the_web_app(
    client: httpx.Client, path: str
) -> None:
    response = client.get(path)
    assert (response.status_code, response.json()) == (404, {"error": "not_found"})


def test_every_answer_carries_the_security_headers_once(client: httpx.Client) -> None:
    answers = [
        client.get("/healthz"),
        client.get("/config"),
        client.get("/"),
        client.get("/callback"),
        client.get("/assets/app.js"),
        client.get("/nope"),
        client.put("/config"),
        client.post("/oidc/backchannel-logout/corp", data={"logout_token": "x"}),
        client.get("/socket.io/"),
        client.options("/socket.io/?EIO=4&transport=polling"),
        client.get("/socket.io/?EIO=4&transport=polling"),
    ]
    for response in answers:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get_list(name) == [value], (response.url, name)
        assert len(response.headers.get_list("content-security-policy")) == 1
        assert "strict-transport-security" not in response.headers  # plain http


def test_api_answers_are_never_stored_and_static_files_revalidate(client: httpx.Client) -> None:
    for path in ("/healthz", "/config", "/nope", "/socket.io/"):
        assert client.get(path).headers.get_list("cache-control") == ["no-store"], path
    assets = client.get("/assets/app.js")
    assert assets.headers.get_list("cache-control") == ["no-cache"]
    again = client.get("/assets/app.js", headers={"if-none-match": assets.headers["etag"]})
    assert again.status_code == 304
    assert again.headers.get_list("cache-control") == ["no-cache"]
    assert client.get("/callback").headers.get_list("cache-control") == ["no-cache"]


def test_hsts_is_sent_only_when_the_request_came_over_https(client: httpx.Client) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (a reverse proxy on the same host).
    over_https = client.get("/healthz", headers={"x-forwarded-proto": "https"})
    assert over_https.headers.get_list("strict-transport-security") == ["max-age=31536000"]
    assert "strict-transport-security" not in client.get("/healthz").headers


def test_a_security_header_the_answer_sets_itself_is_kept_and_not_repeated() -> None:
    def framed_page(_: Request) -> Response:
        headers = {"X-Frame-Options": "SAMEORIGIN", "cache-control": "max-age=60"}
        return PlainTextResponse("hi", headers=headers)

    app = Starlette(routes=[Route("/", framed_page)])
    with serve_asgi(SecurityHeaders(app, "default-src 'none'")) as live:
        headers = httpx.get(live.url).headers
    assert headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert headers.get_list("cache-control") == ["max-age=60"]
    assert headers.get_list("content-security-policy") == ["default-src 'none'"]


def test_an_unexpected_error_is_a_json_500_without_its_traceback() -> None:
    def broken(_: Request) -> Response:
        raise RuntimeError("database password is hunter2")

    app = Starlette(routes=[Route("/", broken)], exception_handlers=ERROR_HANDLERS)
    with serve_asgi(SecurityHeaders(app, "default-src 'none'")) as live:
        response = httpx.get(live.url)
    assert (response.status_code, response.json()) == (500, {"error": "internal_error"})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_responses_carry_a_strict_csp(client: httpx.Client, idp: FakeIdP) -> None:
    headers = client.get("/").headers
    csp = headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "unsafe-inline" not in csp
    assert f"connect-src 'self' {idp.issuer}" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
