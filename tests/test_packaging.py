"""The wheel is what an operator installs: its ``chat-server`` checks its config, migrates and
serves from any directory, because the migrations travel inside the package.

The wheel is built from a copy of the repository (without its environments and caches): an
in-place build would leave ``build/`` and ``*.egg-info`` in the working tree, and a stale
``build/`` can put deleted files into later wheels. It is installed, with its dependencies from
the package index (pip's cache keeps this at seconds), into a fresh venv that cannot see the
project's ``.venv``, then run from an unrelated working directory.
"""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.storage.migrate import MIGRATIONS_DIR, head_revision
from tests.support.live import dev_provider, free_port
from tests.support.toml import toml_table

ROOT = Path(__file__).resolve().parents[1]
PIP_TIMEOUT = 300  # seconds; a cold pip cache downloads every dependency once
COMMAND_TIMEOUT = 60
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "*.egg-info", "build", "__pycache__", ".*_cache",
    ".hypothesis", ".coverage", "artifacts", "results", ".cluster", "chat.db*",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Installed:
    wheel: Path
    venv: Path

    @property
    def chat_server(self) -> str:
        return str(self.venv / "bin" / "chat-server")


@dataclass(frozen=True, slots=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def ok(self) -> "Result":
        assert self.code == 0, f"exit {self.code}:\n{self.stderr[-4000:]}"
        return self


def clean_env() -> dict[str, str]:
    """No CHAT_* or PYTHONPATH from the developer's shell: only the config file and venv count."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CHAT_") and k != "PYTHONPATH"}


def run(args: list[str], cwd: Path, timeout: float = COMMAND_TIMEOUT) -> Result:
    done = subprocess.run(
        args, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES, symlinks=True)
    pip = [sys.executable, "-m", "pip"]
    run([*pip, "wheel", ".", "--no-deps", "--quiet", "-w", str(base)], source, PIP_TIMEOUT).ok()
    (wheel,) = base.glob("*.whl")
    venv = base / "venv"
    # No pip inside: this process's pip installs into it (--python), which saves ensurepip's time.
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], base).ok()
    target = ["--python", str(venv / "bin" / "python")]
    run([*pip, *target, "install", "--quiet", str(wheel)], base, PIP_TIMEOUT).ok()
    return Installed(wheel, venv)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory with no config/, migrations or alembic.ini in it."""
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    return directory


def config_file(directory: Path, port: int, database: Path) -> Path:
    # Nothing listens on the provider's port: a provider down at start does not stop the server.
    provider = dev_provider(f"http://127.0.0.1:{free_port()}")
    server = {"host": "127.0.0.1", "port": port, "allowed_origins": [f"http://127.0.0.1:{port}"]}
    path = directory / "chat.toml"
    path.write_text(
        "\n".join(
            [
                toml_table("[server]", {**server, "log_level": "warning"}),
                toml_table("[database]", {"url": f"sqlite+aiosqlite:///{database}"}),
                toml_table("[metrics]", {"port": 0}),
                toml_table("[[providers]]", provider),
                toml_table("[[rooms]]", {"slug": "general", "name": "General"}),
            ]
        )
    )
    return path


class ServerProcess:
    """``chat-server serve`` as a child process; ``url`` once ``/healthz`` answers. Stopped with
    SIGTERM, as an orchestrator does, and expected to exit on its own."""

    def __init__(self, command: list[str], cwd: Path, port: int) -> None:
        self._command, self._cwd, self._port = command, cwd, port
        self._log_path = cwd / "serve.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        with self._log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                self._command, cwd=self._cwd, env=clean_env(), stdout=log, stderr=log
            )
        try:
            return self._wait_until_healthy()
        except BaseException:
            self._proc.kill()
            self._proc.wait(timeout=10)
            raise

    def _wait_until_healthy(self) -> str:
        assert self._proc is not None
        url = f"http://127.0.0.1:{self._port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self._proc.poll() is None, f"serve exited:\n{self._log()}"
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve did not answer /healthz within 30 s:\n{self._log()}")

    def _log(self) -> str:
        return self._log_path.read_text(errors="replace")[-4000:]

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        assert proc is not None
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            raise AssertionError(
                f"serve still running 20 s after SIGTERM:\n{self._log()}"
            ) from None
        # uvicorn re-raises the signal it caught once shutdown is complete: -SIGTERM is clean.
        assert code in (0, -signal.SIGTERM), f"serve exited {code} after SIGTERM:\n{self._log()}"


def test_the_wheel_ships_the_migrations_and_only_the_server(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
    shipped = {n for n in names if n.startswith("server/storage/migrations/")}
    expected = {
        f"server/storage/{path.relative_to(MIGRATIONS_DIR.parent).as_posix()}"
        for path in MIGRATIONS_DIR.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert "server/storage/migrations/env.py" in shipped
    assert shipped == expected
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"server"}


def test_the_installed_server_is_not_the_repository(installed: Installed, elsewhere: Path) -> None:
    python = str(installed.venv / "bin" / "python")
    where = run([python, "-c", "import server; print(server.__file__)"], elsewhere).ok()
    assert Path(where.stdout.strip()).is_relative_to(installed.venv)


def test_without_a_config_the_server_says_how_to_name_one(
    installed: Installed, elsewhere: Path
) -> None:
    result = run([installed.chat_server, "check-config"], elsewhere)
    assert result.code == 2
    assert "--config" in result.stderr
    assert "CHAT_CONFIG" in result.stderr


def test_check_config_migrate_and_serve_from_any_directory(
    installed: Installed, elsewhere: Path
) -> None:
    port = free_port()
    database = elsewhere / "chat.db"
    command = [installed.chat_server, "--config", str(config_file(elsewhere, port, database))]
    assert run([*command, "check-config"], elsewhere).ok().stdout == "configuration is valid\n"
    run([*command, "migrate"], elsewhere).ok()
    with closing(sqlite3.connect(database)) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == head_revision()
    with ServerProcess([*command, "serve"], elsewhere, port) as url:
        health = httpx.get(f"{url}/healthz", timeout=5)
    assert health.status_code == 200
    assert health.json()["database"] == "ok"
