"""A private PostgreSQL cluster for a test that stops and starts its database.

The machine's shared PostgreSQL (127.0.0.1:5432) must never be restarted: a test that takes its
database away runs ``initdb`` on a data directory of its own, on a free port, and removes it
afterwards. PostgreSQL refuses to run as root, so its programs run as the ``postgres`` OS user
(``runuser``) when the tests run as root.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from tests.support.live import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"
TIMEOUT_SECONDS = 30


def initdb_available(bin_dir: Path = PG_BIN) -> bool:
    """Whether this machine can make a private cluster (the PostgreSQL server programs exist)."""
    return all((bin_dir / name).is_file() for name in ("initdb", "pg_ctl", "createdb"))


class PostgresCluster:
    """``initdb`` + ``pg_ctl`` on a temporary directory: trust auth, 127.0.0.1 only, own socket
    directory. ``stop`` is ``pg_ctl stop -m immediate`` (no clean shutdown, as in a crash)."""

    def __init__(self, bin_dir: Path = PG_BIN) -> None:
        self.port = free_port()
        self._bin = bin_dir
        # Not under pytest's tmp_path: its parents are mode 0700 and owned by root, so the
        # postgres user could not reach a data directory there.
        self._root = Path(tempfile.mkdtemp(prefix="chat-pg-"))
        self._data = self._root / "data"
        self._log = self._root / "postgres.log"
        self._running = False

    def url(self, database: str) -> str:
        """The server's database URL (asyncpg driver) of ``database`` in this cluster."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def log_text(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self._root, user=OS_USER)
        self._run(
            "initdb",
            "--no-sync",
            "-D",
            str(self._data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
        )
        self._data.joinpath("postgresql.auto.conf").write_text(self._settings())
        if os.geteuid() == 0:
            shutil.chown(self._data / "postgresql.auto.conf", user=OS_USER)

    def _settings(self) -> str:
        return "\n".join(
            [
                "listen_addresses = '127.0.0.1'",
                f"port = {self.port}",
                f"unix_socket_directories = '{self._root}'",
                "fsync = off",  # a test cluster: crash safety of the OS is not under test
                "synchronous_commit = on",
                "max_connections = 50",
                "",
            ]
        )

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self._data), "-l", str(self._log), "-w", "start")
        self._running = True

    def stop(self) -> None:
        """``pg_ctl stop -m immediate``: every backend is killed at once, no checkpoint."""
        self._run("pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop")
        self._running = False

    def create_database(self, name: str) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def destroy(self) -> None:
        if self._running:
            self._run("pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop", check=False)
            self._running = False
        shutil.rmtree(self._root, ignore_errors=True)

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        command = [str(self._bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OS_USER, "--", *command]
        result = subprocess.run(
            command,
            cwd=self._root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
        if check and result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")
            raise RuntimeError(f"{program} failed ({result.returncode}):\n{output}")

    def __enter__(self) -> "PostgresCluster":
        try:
            self.init()
            self.start()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.destroy()
