"""Run the Node dev identity provider (``devidp/server.mjs``) as a subprocess.

Usage::

    with DevIdp(test_endpoints=True) as idp:
        tokens = sign_in(idp.issuer, "alice", "alice-password")

Development and test use only: the provider keeps everything in memory and has fixed demo accounts.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

READY_PREFIX = "OP_READY "
DEFAULT_AUDIENCE = "urn:sso-chat:api"


class DevIdp:
    """The dev OpenID provider in a child ``node`` process (a sync context manager)."""

    NODE_DIR = Path(__file__).parent

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        redirect_uris: Sequence[str] | None = None,
        post_logout_redirect_uris: Sequence[str] | None = None,
        audience: str = DEFAULT_AUDIENCE,
        access_token_ttl: int = 600,
        id_token_ttl: int = 600,
        backchannel_logout_uri: str | None = None,
        keys_path: str | os.PathLike[str] | None = None,
        test_endpoints: bool = False,
        node: str = "node",
        startup_timeout: float = 30.0,
    ) -> None:
        self.port = port
        self.host = host
        self.redirect_uris = list(redirect_uris) if redirect_uris is not None else None
        self.post_logout_redirect_uris = (
            list(post_logout_redirect_uris) if post_logout_redirect_uris is not None else None
        )
        self.audience = audience
        self.access_token_ttl = access_token_ttl
        self.id_token_ttl = id_token_ttl
        self.backchannel_logout_uri = backchannel_logout_uri
        self.keys_path = keys_path
        self.test_endpoints = test_endpoints
        self.node = node
        self.startup_timeout = startup_timeout

        self._proc: subprocess.Popen[str] | None = None
        self._issuer: str | None = None
        self._stderr: list[str] = []
        self._stdout: list[str] = []
        self._lock = threading.Lock()
        self._ready: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []

    # -- command line -----------------------------------------------------------------------

    def argv(self) -> list[str]:
        """The full command line that starts the provider."""
        args = [
            self.node,
            str(self.NODE_DIR / "server.mjs"),
            "--port",
            str(self.port),
            "--host",
            self.host,
            "--audience",
            self.audience,
            "--access-token-ttl",
            str(self.access_token_ttl),
            "--id-token-ttl",
            str(self.id_token_ttl),
        ]
        for uri in self.redirect_uris or ():
            args += ["--redirect-uri", uri]
        for uri in self.post_logout_redirect_uris or ():
            args += ["--post-logout-redirect-uri", uri]
        if self.backchannel_logout_uri:
            args += ["--backchannel-logout-uri", self.backchannel_logout_uri]
        if self.keys_path is not None:
            args += ["--keys", os.fspath(self.keys_path)]
        if self.test_endpoints:
            args.append("--test-endpoints")
        return args

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> DevIdp:
        if self._proc is not None:
            raise RuntimeError("DevIdp already started")
        if shutil.which(self.node) is None:
            raise RuntimeError(f"{self.node!r} not found on PATH: Node.js 20+ is required")
        if not (self.NODE_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(f"oidc-provider is not installed: run `npm ci` in {self.NODE_DIR}")

        self._proc = subprocess.Popen(
            self.argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        assert self._proc.stdout is not None
        assert self._proc.stderr is not None
        self._threads = [
            threading.Thread(
                target=self._drain_stdout,
                args=(self._proc.stdout,),
                name="devidp-stdout",
                daemon=True,
            ),
            threading.Thread(
                target=self._drain_stderr,
                args=(self._proc.stderr,),
                name="devidp-stderr",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()

        deadline = time.monotonic() + self.startup_timeout
        try:
            line = self._ready.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            self.stop()
            raise RuntimeError(
                f"dev IdP did not print {READY_PREFIX.strip()} within {self.startup_timeout} s;"
                f" stderr:\n{self.stderr_text()}"
            ) from None
        if line is None:
            self.stop()
            raise RuntimeError(
                f"dev IdP exited early (code {self._proc.returncode if self._proc else '?'});"
                f" stderr:\n{self.stderr_text()}"
            )
        payload = json.loads(line[len(READY_PREFIX) :])
        self._issuer = str(payload["issuer"])
        return self

    def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        self._proc = None
        self._threads = []

    def __enter__(self) -> DevIdp:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- state ------------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        if self._issuer is None:
            raise RuntimeError("DevIdp not started")
        return self._issuer

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stderr_text(self) -> str:
        with self._lock:
            return "".join(self._stderr)

    def _drain_stdout(self, stream: IO[str]) -> None:
        ready_sent = False
        for line in stream:
            with self._lock:
                self._stdout.append(line)
            if not ready_sent and line.startswith(READY_PREFIX):
                ready_sent = True
                self._ready.put(line.strip())
        if not ready_sent:
            self._ready.put(None)

    def _drain_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            with self._lock:
                self._stderr.append(line)

    # -- test-only endpoints (need test_endpoints=True) -------------------------------------

    def _post_test(self, path: str) -> list[str]:
        response = httpx.post(f"{self.issuer}/__test/{path}", timeout=10)
        response.raise_for_status()
        return [str(kid) for kid in response.json()["kids"]]

    def rotate_keys(self) -> list[str]:
        """Put a new RS256 + ES256 key pair first (signing) and keep the old keys; returns kids."""
        return self._post_test("rotate-keys")

    def drop_old_keys(self) -> list[str]:
        """Keep only the newest key pair; returns the remaining kids."""
        return self._post_test("drop-old-keys")

    def private_jwks(self) -> dict[str, Any]:
        """The provider's current private JWKS ``{"keys": [...]}`` (test use only)."""
        response = httpx.get(f"{self.issuer}/__test/keys", timeout=10)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def public_jwks(self) -> dict[str, Any]:
        """The provider's published JWKS."""
        response = httpx.get(f"{self.issuer}/jwks", timeout=10)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body
