"""The soak harness end to end, in quick mode (30 s, 20 users): real server, IdP, Node churn."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.soak import WATCHED

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 20


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One quick soak (about 40 s) shared by the tests of this module."""
    output = tmp_path_factory.mktemp("soak") / "soak.json"
    command = [sys.executable, "-m", "bench.soak", "--quick", "--database", "sqlite"]
    completed = subprocess.run(
        [*command, "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    found: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    return found


def test_quick_soak_churns_and_finds_every_acked_message_stored(results: dict[str, Any]) -> None:
    load, database = results["load"], results["database"]
    assert results["meta"]["minutes"] == 0.5
    assert results["meta"]["clients"] == CLIENTS
    assert load["failures"] == {}
    assert load["connects"] > CLIENTS  # users came back: a churn, not one wave
    assert load["disconnects"] == load["connects"]
    assert load["refreshes"] > 0
    assert load["acked"] > 0
    assert database == {
        "acked": load["acked"],
        "stored": load["acked"],
        "missing": 0,
        "missing_examples": [],
        "all_acked_stored": True,
    }
    counters = results["counters_after"]
    assert counters["chat_connects_total{code=ok,provider=bench}"] == load["connects"]
    assert counters["chat_messages_persisted_total{}"] == load["acked"]


def test_quick_soak_samples_every_watched_gauge(results: dict[str, Any]) -> None:
    assert len(results["samples"]) >= 3  # at 0, 10, 20 (and 30) s
    assert results["scrape_failures"] == 0
    assert set(results["metrics"]) == set(WATCHED)
    for name, row in results["metrics"].items():
        assert row["start"] is not None, name
        assert isinstance(row["slope_per_min"], float), name
    connections = results["metrics"]["chat_connections"]
    assert connections["max"] > 0
    assert connections["after"] == 0
