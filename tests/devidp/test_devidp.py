"""The dev IdP (real npm oidc-provider) and the browserless sign-in client."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from devidp import (
    Browser,
    DevIdp,
    SignInError,
    decode_jwt_unverified,
    end_session,
    refresh,
    sign_in,
)

AUDIENCE = "urn:sso-chat:api"
OFFLINE_SCOPE = "openid profile email groups chat:read chat:write offline_access"


@pytest.fixture(scope="module")
def idp() -> Iterator[DevIdp]:
    with DevIdp(test_endpoints=True, access_token_ttl=300, id_token_ttl=400) as running:
        yield running


def test_ready_line_gives_exact_loopback_issuer(idp: DevIdp) -> None:
    assert idp.issuer.startswith("http://127.0.0.1:")
    port = int(idp.issuer.rsplit(":", 1)[1])
    assert 0 < port < 65536
    metadata = httpx.get(f"{idp.issuer}/.well-known/openid-configuration").json()
    assert metadata["issuer"] == idp.issuer
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["end_session_endpoint"] == f"{idp.issuer}/session/end"


def test_alice_gets_jwt_access_token_and_id_token(idp: DevIdp) -> None:
    tokens = sign_in(idp.issuer, "alice", "alice-password")

    at_header, at = decode_jwt_unverified(tokens.access_token)
    assert at_header["typ"] == "at+jwt"
    assert at_header["alg"] == "RS256"
    assert at_header["kid"]
    aud = at["aud"] if isinstance(at["aud"], list) else [at["aud"]]
    assert AUDIENCE in aud
    assert "chat:write" in at["scope"].split()
    assert "chat:read" in at["scope"].split()
    assert at["groups"] == ["staff", "engineering"]
    assert at["name"] == "Alice Anderson"
    assert at["iss"] == idp.issuer
    assert at["client_id"] == "chat-spa"
    assert at["exp"] - at["iat"] == 300
    assert tokens.expires_in == 300

    id_header, claims = decode_jwt_unverified(tokens.id_token)
    assert id_header["alg"] == "RS256"
    assert claims["name"] == "Alice Anderson"
    assert claims["email"] == "alice@example.test"
    assert claims["groups"] == ["staff", "engineering"]
    assert claims["aud"] == "chat-spa"
    assert claims["iss"] == idp.issuer
    assert claims["exp"] - claims["iat"] == 400
    assert claims["sub"] == at["sub"]
    assert claims["sub"] not in {"alice", "alice@example.test"}
    assert tokens.refresh_token is None  # no offline_access requested


def test_subjects_are_stable_and_distinct(idp: DevIdp) -> None:
    subs = {}
    for user in ("alice", "bob", "carol", "dana"):
        first = decode_jwt_unverified(sign_in(idp.issuer, user, f"{user}-password").id_token)[1]
        again = decode_jwt_unverified(sign_in(idp.issuer, user, f"{user}-password").id_token)[1]
        assert first["sub"] == again["sub"]
        subs[user] = first
    assert len({c["sub"] for c in subs.values()}) == 4
    assert subs["bob"]["groups"] == ["staff"]
    assert subs["carol"]["groups"] == []
    assert subs["carol"]["name"] == "Carol Chen"
    assert subs["dana"]["groups"] == ["staff", "chat-admins"]  # the dev admin


def test_groups_always_in_id_token(idp: DevIdp) -> None:
    tokens = sign_in(idp.issuer, "bob", "bob-password", scope="openid")
    claims = decode_jwt_unverified(tokens.id_token)[1]
    assert claims["groups"] == ["staff"]
    assert "email" not in claims  # scope email not requested


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong"), ("alice", "bob-password"), ("mallory", "mallory-password"), ("alice", "")],
)
def test_wrong_password_is_rejected(idp: DevIdp, username: str, password: str) -> None:
    with pytest.raises(SignInError, match="Invalid username or password"):
        sign_in(idp.issuer, username, password)


def test_unregistered_redirect_uri_is_refused(idp: DevIdp) -> None:
    with pytest.raises(SignInError, match="redirect_uri"):
        sign_in(idp.issuer, "alice", "alice-password", redirect_uri="http://127.0.0.1:9/evil")


def test_refresh_token_with_offline_access_rotates(idp: DevIdp) -> None:
    tokens = sign_in(idp.issuer, "bob", "bob-password", scope=OFFLINE_SCOPE, prompt="consent")
    assert tokens.refresh_token

    renewed = refresh(idp.issuer, tokens.refresh_token)
    assert renewed.refresh_token
    assert renewed.refresh_token != tokens.refresh_token  # public client: rotation
    header, at = decode_jwt_unverified(renewed.access_token)
    assert header["typ"] == "at+jwt"
    assert at["sub"] == decode_jwt_unverified(tokens.access_token)[1]["sub"]
    assert at["groups"] == ["staff"]
    assert "chat:write" in at["scope"].split()
    assert renewed.access_token != tokens.access_token

    with pytest.raises(SignInError, match="invalid_grant"):
        refresh(idp.issuer, tokens.refresh_token)  # the rotated-out token is dead


def test_key_rotation_new_kid_and_jwks_lists_both(idp: DevIdp) -> None:
    before = decode_jwt_unverified(sign_in(idp.issuer, "alice", "alice-password").access_token)
    old_kid = before[0]["kid"]
    old_kids = {k["kid"] for k in idp.public_jwks()["keys"]}
    assert old_kid in old_kids

    kids = idp.rotate_keys()
    assert len(kids) == len(old_kids) + 2
    assert set(kids[2:]) == old_kids
    new_kids = set(kids[:2])
    assert not new_kids & old_kids

    published = {k["kid"] for k in idp.public_jwks()["keys"]}
    assert published == set(kids)
    assert all("d" not in k for k in idp.public_jwks()["keys"])
    private = idp.private_jwks()["keys"]
    assert {k["kid"] for k in private} == set(kids)
    assert all("d" in k for k in private)

    tokens = sign_in(idp.issuer, "alice", "alice-password")
    at_kid = decode_jwt_unverified(tokens.access_token)[0]["kid"]
    id_kid = decode_jwt_unverified(tokens.id_token)[0]["kid"]
    assert at_kid == id_kid == kids[0]
    assert at_kid != old_kid

    remaining = idp.drop_old_keys()
    assert remaining == kids[:2]
    assert {k["kid"] for k in idp.public_jwks()["keys"]} == set(remaining)
    assert (
        decode_jwt_unverified(sign_in(idp.issuer, "bob", "bob-password").id_token)[0]["kid"]
        == kids[0]
    )


def test_session_survives_rotation_and_rp_logout_ends_it(idp: DevIdp) -> None:
    with Browser(idp.issuer) as browser:
        first = browser.sign_in("carol", "carol-password")
        idp.rotate_keys()
        # provider session still valid: no login form with prompt=none
        silent = browser.sign_in("carol", "unused", prompt="none")
        assert (
            decode_jwt_unverified(silent.id_token)[1]["sub"]
            == decode_jwt_unverified(first.id_token)[1]["sub"]
        )

        location = browser.end_session(
            silent.id_token, post_logout_redirect_uri="http://127.0.0.1:8000/", state="s1"
        )
        assert location is not None
        assert location.startswith("http://127.0.0.1:8000/")
        assert parse_qs(location.split("?", 1)[1])["state"] == ["s1"]

        with pytest.raises(SignInError, match="login_required"):
            browser.sign_in("carol", "unused", prompt="none")


def test_cors_on_token_endpoint_allows_spa_origins(idp: DevIdp) -> None:
    for origin, allowed in [
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8000", True),
        ("http://evil.example", False),
    ]:
        response = httpx.options(
            f"{idp.issuer}/token",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert response.status_code == 204
        # preflight is permissive; the actual POST is checked per client
        response = httpx.post(
            f"{idp.issuer}/token",
            headers={"Origin": origin},
            data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": "chat-spa"},
        )
        got = response.headers.get("access-control-allow-origin")
        assert (got == origin) is allowed, (origin, got, response.text)


def test_cli_prints_tokens_json(idp: DevIdp, capsys: pytest.CaptureFixture[str]) -> None:
    from devidp.signin import main

    assert main(["--issuer", idp.issuer, "--decode", "alice", "alice-password"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decoded"]["id_token"]["payload"]["name"] == "Alice Anderson"
    assert out["access_token"].count(".") == 2
    assert main(["--issuer", idp.issuer, "alice", "nope"]) == 1
    assert "Invalid username or password" in capsys.readouterr().err


class _Receiver(BaseHTTPRequestHandler):
    received: queue.Queue[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = parse_qs(self.rfile.read(length).decode())
        self.received.put({"path": self.path, "body": body})
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_backchannel_logout_and_keys_file_and_no_test_routes(tmp_path: Path, idp: DevIdp) -> None:
    received: queue.Queue[dict[str, Any]] = queue.Queue()
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    keys_file = tmp_path / "keys.json"
    keys = idp.private_jwks()
    keys_file.write_text(json.dumps(keys))
    try:
        receiver = f"http://127.0.0.1:{server.server_address[1]}/backchannel-logout"
        with DevIdp(backchannel_logout_uri=receiver, keys_path=keys_file) as other:
            # --keys: the provider uses exactly the given keys
            assert {k["kid"] for k in other.public_jwks()["keys"]} == {
                k["kid"] for k in keys["keys"]
            }
            # without --test-endpoints the test routes do not exist
            for method, path in [
                ("POST", "rotate-keys"),
                ("POST", "drop-old-keys"),
                ("GET", "keys"),
            ]:
                response = httpx.request(method, f"{other.issuer}/__test/{path}")
                assert response.status_code == 404, (path, response.text)
            assert httpx.get(f"{idp.issuer}/__test/keys").status_code == 200

            with Browser(other.issuer) as browser:
                tokens = browser.sign_in("alice", "alice-password")
                id_header, id_claims = decode_jwt_unverified(tokens.id_token)
                assert id_header["kid"] == keys["keys"][0]["kid"]
                at = decode_jwt_unverified(tokens.access_token)[1]
                assert id_claims["sid"]
                assert at["sid"] == id_claims["sid"]
                assert received.empty()
                end_session(other.issuer, tokens.id_token, browser=browser)

            delivery = received.get(timeout=10)
            assert delivery["path"] == "/backchannel-logout"
            header, logout = decode_jwt_unverified(delivery["body"]["logout_token"][0])
            assert header["typ"] == "logout+jwt"
            assert logout["aud"] == "chat-spa"
            assert logout["iss"] == other.issuer
            assert logout["sub"] == id_claims["sub"]
            assert logout["sid"] == id_claims["sid"]
            assert "http://schemas.openid.net/event/backchannel-logout" in logout["events"]
            assert "nonce" not in logout
            # The provider logs the delivery once our receiver has answered: wait for the line.
            deadline = time.monotonic() + 10
            while "backchannel.success" not in other.stderr_text():
                assert time.monotonic() < deadline, other.stderr_text()
                time.sleep(0.05)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_early_exit_raises_with_stderr(tmp_path: Path) -> None:
    bad = tmp_path / "bad-keys.json"
    bad.write_text('{"keys": []}')
    with pytest.raises(RuntimeError, match=r"exited early[\s\S]*expected"):
        DevIdp(keys_path=bad).start()
