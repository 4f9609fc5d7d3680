"""The benchmark harness end to end, in quick mode: baseline and ours on SQLite, real processes."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.report import FIGURES, TARGETS

ROOT = Path(__file__).resolve().parents[2]
MEASURED = ["baseline", "ours-sqlite"]
SCENARIOS = {"connects", "persisted", "fanout_100", "fanout_500", "latency", "storm"}


def _run_quick(output: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.run", "--quick", "--targets", ",".join(MEASURED)]
    completed = subprocess.run(
        [*command, "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    return results


def test_quick_run_measures_every_figure_for_baseline_and_ours(tmp_path: Path) -> None:
    results = _run_quick(tmp_path / "latest.json")

    assert set(results) == {
        "meta",
        "figures",
        "samples",
        "ratios",
        "cpu",
        "details",
        "targets",
        "cpu_vs_node",
        "errors",
    }
    for figure, by_target in results["samples"].items():  # one round in quick mode
        for target, values in by_target.items():
            assert values == [results["figures"][figure][target]]
    assert results["errors"] == {}
    assert results["meta"]["mode"] == "quick"
    assert results["meta"]["targets"] == MEASURED
    assert set(results["figures"]) == set(FIGURES)
    for figure, by_target in results["figures"].items():
        for target in MEASURED:
            value = by_target[target]
            assert isinstance(value, float | int), (figure, target, value)
            assert value > 0, (figure, target, value)
        assert results["ratios"][figure]["ours-sqlite"] > 0
    assert set(results["cpu"]) == SCENARIOS
    for by_target in results["cpu"].values():
        for target in MEASURED:
            assert by_target[target]["wall_s"] > 0
            assert by_target[target]["server_cpu_pct"] >= 0
            assert by_target[target]["generator_cpu_pct"] >= 0
    assert set(results["targets"]) == set(TARGETS)
    for verdict in results["targets"].values():
        assert isinstance(verdict["results"]["ours-sqlite"]["pass"], bool)
