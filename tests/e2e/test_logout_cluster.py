"""Two real server processes on one database: a back-channel logout that the provider delivers to
one of them ends the live sockets of that session on the other within one sync interval."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest
import socketio.exceptions

from devidp.process import DevIdp
from devidp.signin import Browser, Tokens, sign_in
from tests.e2e.test_sessions import EventClient
from tests.support.clients import refusal
from tests.support.live import dev_provider, free_port
from tests.support.toml import toml_table

ROOT = Path(__file__).resolve().parents[2]
SYNC_SECONDS = 0.5
MARGIN_SECONDS = 2.0  # a sync's query, the emit and the WebSocket close, on a busy 2-core machine


def config_text(port: int, database_url: str, issuer: str) -> str:
    """A ``chat-server --config`` file for one process of the cluster."""
    server: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "log_level": "warning",
        "allowed_origins": ["http://127.0.0.1:8000"],
    }
    return "\n".join(
        [
            toml_table("[server]", server),
            toml_table("[sessions]", {"revocation_sync_seconds": SYNC_SECONDS}),
            toml_table("[database]", {"url": database_url}),
            toml_table("[metrics]", {"port": 0}),
            toml_table("[[providers]]", dev_provider(issuer)),
            toml_table("[[rooms]]", {"slug": "general", "name": "General"}),
        ]
    )


class ServerProcess:
    """``python -m server --config F serve`` as a child process, ready once /healthz answers."""

    def __init__(self, config: Path, port: int) -> None:
        self._config = config
        self._log = config.with_suffix(".log")
        self.url = f"http://127.0.0.1:{port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "ServerProcess":
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "server", "--config", str(self._config), "serve"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready(self._proc)
        return self

    def _wait_ready(self, proc: "subprocess.Popen[bytes]") -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError(f"server process did not start:\n{self.log_text()}")

    def log_text(self) -> str:
        return self._log.read_text(errors="replace")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@dataclass(frozen=True)
class Cluster:
    idp: DevIdp
    receiver: ServerProcess  # the provider posts its back-channel logouts here
    other: ServerProcess


@pytest.fixture
def cluster(database_url: str, tmp_path: Path) -> Iterator[Cluster]:
    ports = free_port(), free_port()
    logout_uri = f"http://127.0.0.1:{ports[0]}/oidc/backchannel-logout/dev"
    with DevIdp(backchannel_logout_uri=logout_uri) as idp:
        configs = []
        for name, port in zip(("receiver", "other"), ports, strict=True):
            path = tmp_path / f"{name}.toml"
            path.write_text(config_text(port, database_url, idp.issuer))
            configs.append(ServerProcess(path, port))
        with configs[0] as receiver, configs[1] as other:
            yield Cluster(idp, receiver, other)


async def connect(url: str, tokens: Tokens) -> EventClient:
    client = EventClient()
    await client.connect(url, {"access_token": tokens.access_token, "id_token": tokens.id_token})
    assert (await client.call("join", {"room": "general"}))["ok"]
    return client


async def test_a_logout_received_by_one_process_ends_the_socket_on_the_other(
    cluster: Cluster,
) -> None:
    with Browser(cluster.idp.issuer) as browser:
        alice_tokens = await asyncio.to_thread(browser.sign_in, "alice", "alice-password")
        bob_tokens = await asyncio.to_thread(sign_in, cluster.idp.issuer, "bob", "bob-password")
        alice = await connect(cluster.other.url, alice_tokens)
        bob = await connect(cluster.other.url, bob_tokens)
        try:
            assert (await alice.call("send_message", {"room": "general", "text": "before"}))["ok"]
            logged_out_at = time.monotonic()
            await asyncio.to_thread(browser.end_session, alice_tokens.id_token)
            ended = await alice.wait_event("session_ended", within=SYNC_SECONDS + MARGIN_SECONDS)
            assert ended == {"reason": "logged_out"}
            await asyncio.wait_for(alice.disconnected.wait(), 2)
            assert time.monotonic() - logged_out_at < SYNC_SECONDS + MARGIN_SECONDS
            await assert_sends_are_impossible(alice)
            await assert_untouched(bob)
        finally:
            await bob.close()
    data = await refusal(
        cluster.other.url,
        {"access_token": alice_tokens.access_token, "id_token": alice_tokens.id_token},
    )
    assert data["code"] == "session_revoked"


async def assert_sends_are_impossible(alice: EventClient) -> None:
    with pytest.raises(socketio.exceptions.BadNamespaceError):
        await alice.call("send_message", {"room": "general", "text": "after"})
    assert not alice.sio.connected


async def assert_untouched(bob: EventClient) -> None:
    await asyncio.sleep(SYNC_SECONDS * 2)  # more syncs pass: still nothing for bob
    assert bob.events == []
    assert (await bob.call("send_message", {"room": "general", "text": "still here"}))["ok"]
    history = await bob.call("fetch_history", {"room": "general"})
    assert sorted(m["text"] for m in history["messages"]) == ["before", "still here"]
