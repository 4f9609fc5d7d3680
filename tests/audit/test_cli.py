"""``chat-server --config F audit verify [--head ID:HASH]`` as operators run it: a subprocess on
a migrated SQLite database. Exit 0 intact, 1 broken (naming the row), 2 bad arguments."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from server.audit import SYSTEM, AuditLog, ChainHead
from server.storage import AuditRepository, create_engine
from tests.support.databases import migrated_database, run_sync

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    with migrated_database("sqlite", tmp_path) as url:
        yield url


@pytest.fixture
def config(tmp_path: Path, database: str) -> Path:
    path = tmp_path / "chat.toml"
    path.write_text(
        "\n".join(
            [
                "[database]",
                f"url = {json.dumps(database)}",
                "[[providers]]",
                'id = "dev"',
                'issuer = "http://127.0.0.1:9400"',
                'client_id = "chat-spa"',
                'audience = "urn:sso-chat:api"',
            ]
        )
        + "\n"
    )
    return path


def chat_server(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run("--config", str(config), *args)


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    return subprocess.run(
        [sys.executable, "-m", "server", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _fill(url: str, count: int) -> ChainHead | None:
    engine = create_engine(url)
    try:
        audit = AuditLog(AuditRepository(engine))
        for n in range(count):
            await audit.record(SYSTEM, "user.block", f"user:{n}", reason="test")
        return await audit.head()
    finally:
        await engine.dispose()


async def _execute(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def fill(url: str, count: int) -> ChainHead:
    head = run_sync(_fill(url, count))
    assert head is not None
    return head


def test_an_intact_chain_exits_0_with_its_head(config: Path, database: str) -> None:
    head = fill(database, 4)
    result = chat_server(config, "audit", "verify", "--head", str(head))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"chain intact: 4 rows, head #4 {head.hash}\n"


def test_an_empty_log_is_intact(config: Path) -> None:
    result = chat_server(config, "audit", "verify")
    assert (result.returncode, result.stdout) == (0, "chain intact: 0 rows\n")


def test_a_tampered_row_exits_1_and_names_it(config: Path, database: str) -> None:
    fill(database, 4)
    run_sync(_execute(database, "UPDATE audit_log SET target = 'user:99' WHERE id = 3"))
    result = chat_server(config, "audit", "verify")
    assert result.returncode == 1, result.stderr
    assert result.stdout == "chain broken at #3: altered\n"


def test_cut_rows_exit_1_against_the_published_head(config: Path, database: str) -> None:
    head = fill(database, 4)
    run_sync(_execute(database, "DELETE FROM audit_log WHERE id = 4"))
    assert chat_server(config, "audit", "verify").returncode == 0
    result = chat_server(config, "audit", "verify", "--head", str(head))
    assert (result.returncode, result.stdout) == (1, "chain broken at #4: truncated\n")


@pytest.mark.parametrize("head", ["12", "12:abcd", "x:" + "a" * 64, ""])
def test_a_bad_head_exits_2(config: Path, head: str) -> None:
    result = chat_server(config, "audit", "verify", "--head", head)
    assert result.returncode == 2
    assert result.stdout == ""


def test_an_unmigrated_database_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "empty.toml"
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    config.write_text(
        f'[database]\nurl = {json.dumps(url)}\n[[providers]]\nid = "dev"\n'
        'issuer = "http://127.0.0.1:9400"\nclient_id = "chat-spa"\naudience = "urn:sso-chat:api"\n'
    )
    result = chat_server(config, "audit", "verify")
    assert result.returncode == 2
    assert "chat-server migrate" in result.stderr


def test_audit_without_a_subcommand_exits_2(config: Path) -> None:
    assert chat_server(config, "audit").returncode == 2


def test_check_config_still_works_either_side_of_the_command(config: Path) -> None:
    result = chat_server(config, "check-config")
    assert (result.returncode, result.stdout) == (0, "configuration is valid\n")
    after = run("check-config", "--config", str(config))
    assert (after.returncode, after.stdout) == (0, "configuration is valid\n")
