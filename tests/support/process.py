"""One ``chat-server serve`` process (no cluster) that a fault test kills, stops or restarts."""

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.support.cluster import Node
from tests.support.live import dev_provider
from tests.support.toml import toml_table

# Generous limits: the fault tests send fast from few users, and must not be rate limited.
FAST_SENDERS = {
    "max_connections_per_user": 20,
    "messages_per_second": 100,
    "message_burst": 200,
    "user_messages_per_second": 1000,
    "user_message_burst": 1000,
    "events_per_second": 200,
    "event_burst": 400,
}


def single_node_config(port: int, database_url: str, issuer: str) -> str:
    """The config file of one process on ``database_url``, trusting the dev provider."""
    server: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "log_level": "info",
        "allowed_origins": ["http://127.0.0.1:8000"],
    }
    return "\n".join(
        [
            toml_table("[server]", server),
            toml_table("[sessions]", FAST_SENDERS),
            toml_table("[database]", {"url": database_url}),
            toml_table("[metrics]", {"port": 0}),  # 9464 may be taken by another test's server
            toml_table("[[providers]]", dev_provider(issuer)),
            toml_table("[[rooms]]", {"slug": "general", "name": "General"}),
        ]
    )


class ChatProcess(Node):
    """A node that can also be stopped the way an orchestrator does: SIGTERM, then a deadline."""

    @classmethod
    def configured(
        cls, directory: Path, name: str, port: int, database_url: str, issuer: str
    ) -> "ChatProcess":
        """A process whose config (and so log) file is ``directory/name.toml`` (``.log``)."""
        path = directory / f"{name}.toml"
        path.write_text(single_node_config(port, database_url, issuer))
        return cls(path, port)

    def __enter__(self) -> "ChatProcess":
        super().__enter__()
        return self

    def terminate(self, within: float) -> tuple[float, int]:
        """SIGTERM; (seconds until the process exited, its exit code). A process still alive
        after ``within`` seconds is killed and the test fails."""
        proc, self._proc = self._proc, None
        assert proc is not None, "not running"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            raise AssertionError(f"still running {within} s after SIGTERM") from None
        return time.monotonic() - started, code
