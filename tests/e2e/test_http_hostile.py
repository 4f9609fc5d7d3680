"""The HTTP side tried as an attacker would, with raw sockets against the real server: paths that
reach for files outside the web app, hostile back-channel logout bodies, slow and endless requests.

Each answer is a clean 4xx with a stable code, the log holds no traceback, and the server serves
honest requests afterwards."""

import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.http import LOGOUT_READ_SECONDS, MAX_LOGOUT_BODY
from tests.support.databases import migrated_database
from tests.support.fake_idp import FakeIdP, b64url
from tests.support.live import LiveServer, make_settings

SECRET = "TOP-SECRET-OUTSIDE-STATIC-DIR"
LOGOUT = "/oidc/backchannel-logout/corp"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Target:
    url: str
    log: pytest.LogCaptureFixture

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").split(":")
        return host, int(port)

    def assert_unharmed(self) -> None:
        """No traceback logged, and an honest request is still served."""
        assert httpx.get(self.url + "/healthz", timeout=10).status_code == 200
        tracebacks = [r.getMessage() for r in self.log.records if r.exc_info]
        assert tracebacks == []
        assert "Traceback" not in self.log.text


@pytest.fixture
def target(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Target]:
    static = tmp_path / "dist"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><title>chat</title>")
    (tmp_path / "secret.txt").write_text(SECRET)
    os.symlink(tmp_path / "secret.txt", static / "assets" / "link.js")  # a file outside
    os.symlink(tmp_path, static / "up")  # a directory outside
    idp = FakeIdP()
    provider = {"id": "corp", "issuer": idp.issuer, "client_id": "spa", "audience": "api"}
    with migrated_database("sqlite", tmp_path) as url:
        settings = make_settings(database_url=url, providers=[provider], static_dir=str(static))
        with LiveServer(settings, http_transport=idp.transport()) as live:
            # uvicorn's own loggers do not propagate: listen to them directly (after its setup).
            caplog.set_level(logging.INFO)
            uvicorn_log = logging.getLogger("uvicorn")
            uvicorn_log.addHandler(caplog.handler)
            try:
                yield Target(live.url, caplog)
            finally:
                uvicorn_log.removeHandler(caplog.handler)


def exchange(target: Target, request: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes; everything the server answers until it closes (or stops answering)."""
    answer = b""
    with socket.create_connection(target.address, timeout=timeout) as sock:
        try:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionError, TimeoutError):
            pass
    return answer


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def post(path: str, body: bytes, *headers: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/../../../../../../etc/passwd",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2E%2E/secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/%252e%252e/secret.txt",
        "/..\\secret.txt",
        "/assets/..%5c..%5csecret.txt",
        "/index.html%00.js",
        "/assets/link.js",
        "/up/secret.txt",
        "/up/",
        "//etc/passwd",
        "/etc/passwd",
        "/%ff%fe",
        "/assets/%c0%ae%c0%ae/secret.txt",
        "/" + "a" * 300,
        "/assets/" + "a/" * 2000 + "x.js",
    ],
)
def test_no_path_reaches_a_file_outside_static_dir(target: Target, path: str) -> None:
    answer = exchange(
        target, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    assert status(answer) == 404, answer[:200]
    assert SECRET.encode() not in answer
    assert b'{"error":"not_found"}' in answer
    target.assert_unharmed()


def _deep_token(depth: int) -> str:
    return b64url(b"[" * depth) + "." + b64url(b"{}") + ".AA"


@pytest.mark.parametrize(
    ("content_type", "body", "code"),
    [
        (None, b"logout_token=x", "invalid_request"),
        ("application/json", b'{"logout_token": "x"}', "invalid_request"),
        ("text/plain", b"logout_token=x", "invalid_request"),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\nlogout_token\r\n--x--", "invalid_request"),
        ("application/x-www-form-urlencoded-not", b"logout_token=x", "invalid_request"),
        (f"{FORM}; charset=ISO-8859-1", b"logout_token=x", "invalid_token"),
        (FORM.upper(), b"logout_token=x", "invalid_token"),
        (FORM, b"", "invalid_request"),
        (FORM, b"logout_token=", "invalid_request"),
        (FORM, b"logout_token=a&logout_token=b", "invalid_request"),
        (FORM, b"&".join(b"f%d=1" % i for i in range(11)), "invalid_request"),
        (FORM, b"&".join(b"f%d=1" % i for i in range(3000)), "invalid_request"),
        (FORM, b"logout_token=\xff\xfe\x00", "invalid_request"),
        (FORM, b"logout_token=%ff%fe", "invalid_request"),
        (FORM, b"logout_token=%zz%%%", "invalid_token"),
        (FORM, b"=&=&&&", "invalid_request"),
        (FORM, b"logout_token=" + b"[" * 20_000, "invalid_token"),
        (FORM, b"logout_token=" + b"%5B" * 9_000, "invalid_token"),
        (FORM, f"logout_token={_deep_token(10_000)}".encode(), "invalid_token"),
        (FORM, b"logout_token=" + b"x" * (MAX_LOGOUT_BODY + 1), "invalid_request"),
    ],
)
def test_hostile_logout_bodies_get_a_400_with_a_stable_code(
    target: Target, content_type: str | None, body: bytes, code: str
) -> None:
    headers = [f"Content-Length: {len(body)}"]
    if content_type is not None:
        headers.append(f"Content-Type: {content_type}")
    answer = exchange(target, post(LOGOUT, body, *headers))
    assert status(answer) == 400, answer[:300]
    assert answer.endswith(b'{"error":"invalid_request","error_description":"%s"}' % code.encode())
    target.assert_unharmed()


def test_an_endless_chunked_body_is_cut_off_at_the_limit(target: Target) -> None:
    chunk = b"%x\r\n%s\r\n" % (16 * 1024, b"x" * 16 * 1024)
    request = post(LOGOUT, b"", f"Content-Type: {FORM}", "Transfer-Encoding: chunked")
    with socket.create_connection(target.address, timeout=10) as sock:
        sock.sendall(request)
        sent = 0
        try:
            while sent < 64 * MAX_LOGOUT_BODY:  # far past the limit, never a last chunk
                sock.sendall(chunk)
                sent += len(chunk)
        except ConnectionError:
            pass
        answer = sock.recv(65536)
    assert status(answer) == 400
    assert answer.endswith(b'"error_description":"invalid_request"}')
    target.assert_unharmed()


def test_a_huge_declared_body_is_refused_before_it_is_sent(target: Target) -> None:
    headers = (f"Content-Type: {FORM}", "Content-Length: 10000000000")
    started = time.monotonic()
    answer = exchange(target, post(LOGOUT, b"logout_token=", *headers), timeout=5)
    assert status(answer) == 400
    assert time.monotonic() - started < 2
    target.assert_unharmed()


def test_a_trickling_body_is_refused_once_its_time_is_up(target: Target) -> None:
    headers = (f"Content-Type: {FORM}", "Content-Length: 100")
    started = time.monotonic()
    answer = exchange(target, post(LOGOUT, b"logout_", *headers), timeout=LOGOUT_READ_SECONDS + 5)
    assert status(answer) == 400
    assert LOGOUT_READ_SECONDS - 0.5 < time.monotonic() - started < LOGOUT_READ_SECONDS + 3
    target.assert_unharmed()


def test_a_client_gone_mid_body_leaves_no_traceback(target: Target) -> None:
    headers = (f"Content-Type: {FORM}", "Content-Length: 100")
    with socket.create_connection(target.address, timeout=5) as sock:
        sock.sendall(post(LOGOUT, b"logout_token=abc", *headers))
        time.sleep(0.2)
    time.sleep(0.5)  # the server notices the disconnect
    target.assert_unharmed()


def test_a_provider_id_in_the_url_cannot_forge_log_lines(target: Target) -> None:
    body = b"logout_token=x"
    path = "/oidc/backchannel-logout/x%0aINFO%20forged%20line"
    answer = exchange(target, post(path, body, f"Content-Type: {FORM}", "Content-Length: 14"))
    assert status(answer) == 400
    assert not any("\n" in record.getMessage() for record in target.log.records)
    target.assert_unharmed()


def test_odd_methods_and_oversized_request_heads_are_refused(target: Target) -> None:
    odd_method = exchange(target, b"FOO /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status(odd_method) == 405
    assert odd_method.endswith(b'{"error":"method_not_allowed"}')
    long_url = b"GET /" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert status(exchange(target, long_url)) in {0, 400, 414, 431}
    header = b"X-Filler: " + b"a" * 8_000 + b"\r\n"
    huge_head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + header * 2_000 + b"\r\n"  # 16 MB
    assert status(exchange(target, huge_head)) != 200
    assert httpx.get(target.url + "/healthz", timeout=10).status_code == 200


def test_socketio_over_plain_http_never_fails_and_carries_the_headers(target: Target) -> None:
    with httpx.Client(base_url=target.url, timeout=10) as http:
        for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE"):
            for query in ("", "?EIO=4&transport=polling", "?EIO=3&transport=polling&sid=x"):
                response = http.request(method, "/socket.io/" + query, content=b"4garbage")
                assert 200 <= response.status_code < 500, (method, query)
                assert response.headers["x-content-type-options"] == "nosniff"
                assert response.headers["cache-control"] == "no-store"
    target.assert_unharmed()
