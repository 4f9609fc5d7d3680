"""Real clusters for tests: several ``chat-server serve`` processes on one database and one Redis.

The machine's Redis (127.0.0.1:6379) is shared: every cluster uses a key prefix of its own and
deletes only its keys. A test that restarts Redis starts a private ``redis-server`` instead
(``RedisServer``).
"""

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import redis

from tests.e2e.test_logout_cluster import ServerProcess
from tests.support.live import dev_provider, free_port
from tests.support.toml import toml_table

SHARED_REDIS = "redis://127.0.0.1:6379/0"


def node_config(
    port: int,
    database_url: str,
    issuer: str,
    redis_url: str,
    prefix: str,
    **tables: dict[str, Any],
) -> str:
    """The config file of one node; ``tables`` adds keys to ``[server]``, ``[sessions]``…"""
    server: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "log_level": "warning",
        "allowed_origins": ["http://127.0.0.1:8000"],
        **tables.get("server", {}),
    }
    cluster = {
        "redis_url": redis_url,
        "key_prefix": prefix,
        "heartbeat_seconds": 0.2,
        **tables.get("cluster", {}),
    }
    sections = [
        toml_table("[server]", server),
        toml_table("[cluster]", cluster),
        toml_table("[database]", {"url": database_url}),
        toml_table("[metrics]", {"port": 0}),
    ]
    for name in ("sessions", "admin"):
        if name in tables:
            sections.append(toml_table(f"[{name}]", tables[name]))
    sections += [
        toml_table("[[providers]]", dev_provider(issuer)),
        toml_table("[[rooms]]", {"slug": "general", "name": "General"}),
    ]
    return "\n".join(sections)


class Node(ServerProcess):
    """One node; ``kill`` is ``kill -9`` (no shutdown at all), ``health`` its /healthz body."""

    def __init__(self, config: Path, port: int) -> None:
        super().__init__(config, port)
        self.port = port

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.url}/healthz", timeout=5).json()
        return body


@contextmanager
def cluster_nodes(
    count: int,
    directory: Path,
    database_url: str,
    issuer: str,
    redis_url: str = SHARED_REDIS,
    ports: list[int] | None = None,
    **tables: dict[str, Any],
) -> Iterator[list[Node]]:
    """``count`` nodes sharing a fresh key prefix; their keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    nodes = []
    for index in range(count):
        port = ports[index] if ports else free_port()
        path = directory / f"node-{index}.toml"
        path.write_text(node_config(port, database_url, issuer, redis_url, prefix, **tables))
        nodes.append(Node(path, port))
    try:
        with ExitStack() as stack:
            for node in nodes:
                stack.enter_context(node)
            yield nodes
    finally:
        delete_prefix(redis_url, prefix)


def delete_prefix(redis_url: str, prefix: str) -> None:
    try:
        client = redis.Redis.from_url(redis_url, socket_timeout=2)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
        client.close()
    except redis.RedisError:
        pass  # a private Redis already stopped: nothing left to clean


class RedisServer:
    """A private ``redis-server`` on a free port, which a test may stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self._directory / f"redis-{self.port}.log"
        self._proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self._directory)),
                *("--logfile", str(log)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if k != "REDIS_URL"},
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1) as probe:
                try:
                    probe.ping()
                    return
                except redis.RedisError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> "RedisServer":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class PrivateRedis(RedisServer):
    """``RedisServer`` with the admin commands a fault test needs."""

    def kill_subscriptions(self) -> int:
        """``CLIENT KILL TYPE pubsub``: every subscription connection is cut; how many were."""
        with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2) as admin:
            return int(admin.client_kill_filter(_type="pubsub"))

    def subscribers(self) -> int:
        """How many connections are in subscriber mode (``CLIENT LIST TYPE pubsub``)."""
        with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2) as admin:
            return len(admin.client_list(_type="pubsub"))

    def refuse_subscriptions(self, refuse: bool) -> None:
        """Take SUBSCRIBE away from the default user (``NOPERM``), or give it back: holds a
        subscriber off for as long as a test needs while PUBLISH goes on working."""
        with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2) as admin:
            admin.acl_setuser(
                "default",
                enabled=True,
                reset_keys=False,
                commands=["-subscribe" if refuse else "+subscribe"],
            )
