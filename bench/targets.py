"""The servers under test, each started in its own process on 127.0.0.1 and stopped afterwards.

- ``baseline``: the classic python-socketio chat (``bench.baseline_server``), no auth, no DB;
- ``ours-sqlite`` / ``ours-postgres``: ``python -m server --config <generated> serve`` on a fresh,
  migrated database, trusting only the bench provider;
- ``node``: Node's socket.io with the same events (``bench/node/peer_server.mjs``), the peer.
"""

import contextlib
import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench.idp import BenchIdP
from server.config import Settings
from tests.support.databases import migrated_database

logger = logging.getLogger(__name__)

TARGETS = ("baseline", "ours-sqlite", "ours-postgres", "node")
NODE_DIR = Path(__file__).resolve().parent / "node"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ensure_node_modules() -> None:
    """``npm ci`` in bench/node when its packages are missing (as scripts/setup does elsewhere)."""
    if not (NODE_DIR / "node_modules" / "socket.io-client").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True
        )


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
    raise RuntimeError(f"server did not start on port {port}:\n{tail}")


class ServerProcess:
    """A server under test: started, stopped, and restarted on the same port (the storm)."""

    def __init__(self, argv: list[str], port: int, workdir: Path) -> None:
        self._argv = argv
        self._port = port
        self._log = workdir / f"server-{port}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    def start(self) -> int:
        """Start the process and wait until it accepts connections; returns its pid."""
        with self._log.open("ab") as out:
            self._proc = subprocess.Popen(
                self._argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        _wait_listening(self._proc, self._port, self._log, timeout=60)
        return self._proc.pid

    def stop(self) -> None:
        """SIGTERM (the server's own graceful shutdown), then SIGKILL after 15 s."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def restart(self) -> int:
        """Stop, then start again on the same port; returns the new pid once it listens."""
        self.stop()
        return self.start()


@contextlib.contextmanager
def _process(argv: list[str], port: int, workdir: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(argv, port, workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _toml_value(value: object) -> str:
    return json.dumps(value)  # JSON strings, lists and numbers are valid TOML too


# Message rate limits are policy, not capacity: a closed-loop sender must meet the server's
# limit of work, not the limiter. They are raised to their allowed maxima where the server has them.
LIFTED_LIMITS: dict[str, int] = {
    "messages_per_second": 1000,
    "message_burst": 10_000,
    "user_messages_per_second": 10_000,
    "user_message_burst": 100_000,
    "events_per_second": 100_000,
    "event_burst": 100_000,
}


def session_overrides() -> dict[str, int]:
    """The ``[sessions]`` keys of LIFTED_LIMITS that this version of the server knows."""
    field = Settings.model_fields.get("sessions")
    if field is None or field.annotation is None:
        return {}
    known = field.annotation.model_fields
    return {key: value for key, value in LIFTED_LIMITS.items() if key in known}


def write_config(
    path: Path,
    port: int,
    database_url: str,
    idp: BenchIdP,
    cluster: dict[str, object] | None = None,
    metrics: dict[str, object] | None = None,
) -> None:
    """Our server's config: the bench provider, the room ``general``, quiet logs, no rate limit.

    ``cluster`` is the ``[cluster]`` table (``redis_url``, ``key_prefix``…) of a multi-node run;
    ``metrics`` the ``[metrics]`` table (``port``…) of a run that scrapes the server.
    """
    server = {
        "host": "127.0.0.1",
        "port": port,
        "allowed_origins": [f"http://127.0.0.1:{port}"],
        "websocket_only": True,
        "log_level": "warning",
        "frames_per_second": 1_000_000,  # like the session limits: the load is not a flood
        "frame_burst": 1_000_000,
    }
    lines = ["[server]", *(f"{k} = {_toml_value(v)}" for k, v in server.items())]
    if overrides := session_overrides():
        lines += ["", "[sessions]", *(f"{k} = {v}" for k, v in overrides.items())]
    if cluster:
        lines += ["", "[cluster]", *(f"{k} = {_toml_value(v)}" for k, v in cluster.items())]
    if metrics:
        lines += ["", "[metrics]", *(f"{k} = {_toml_value(v)}" for k, v in metrics.items())]
    lines += ["", "[database]", f"url = {_toml_value(database_url)}", "", "[[providers]]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in idp.provider_table().items()]
    lines += ["", "[[rooms]]", 'slug = "general"', 'name = "General"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")


@contextlib.contextmanager
def start_ours(
    workdir: Path,
    idp: BenchIdP,
    database_url: str,
    cluster: dict[str, object] | None = None,
    metrics: dict[str, object] | None = None,
) -> Iterator[ServerProcess]:
    """One process of our server on ``database_url`` (already migrated)."""
    port = free_port()
    config = workdir / f"config-{port}.toml"
    write_config(config, port, database_url, idp, cluster, metrics)
    argv = [sys.executable, "-m", "server", "--config", str(config), "serve"]
    with _process(argv, port, workdir) as running:
        yield running


@contextlib.contextmanager
def start(target: str, workdir: Path, idp: BenchIdP) -> Iterator[ServerProcess]:
    """Start ``target``; yields the running server (pid, URL, restart), stopped on exit."""
    port = free_port()
    if target == "baseline":
        argv = [sys.executable, "-m", "bench.baseline_server", "--port", str(port)]
        with _process(argv, port, workdir) as running:
            yield running
    elif target == "node":
        argv = ["node", str(NODE_DIR / "peer_server.mjs"), str(port)]
        with _process(argv, port, workdir) as running:
            yield running
    elif target in ("ours-sqlite", "ours-postgres"):
        kind = "sqlite" if target == "ours-sqlite" else "postgresql"
        (database_dir := workdir / f"db-{port}").mkdir()
        with migrated_database(kind, database_dir) as url, start_ours(workdir, idp, url) as running:
            yield running
    else:
        raise ValueError(f"unknown target {target!r}; choose from {TARGETS}")
