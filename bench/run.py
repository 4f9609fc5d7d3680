"""One command, one run: every target in turn, every scenario against each, a table and a JSON file.

Usage: ``python -m bench.run [--quick] [--targets baseline,ours-sqlite,...] [--output PATH]``

Each target runs alone in its own process on 127.0.0.1; the Node load generator runs in another
process per scenario. Results go to ``bench/results/latest.json`` by default.
"""

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.idp import BenchIdP, subject
from bench.scenarios import Scenario, cpu_report, figures, plan, run_all, users_needed
from bench.targets import TARGETS, ensure_node_modules, session_overrides, start

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "latest.json"


def _auth_files(workdir: Path, idp: BenchIdP, users: int) -> dict[str, Path]:
    """Connect payloads per kind of target: real tokens for ours, a claimed name for the others."""
    tokens = workdir / "tokens.json"
    started = time.monotonic()
    idp.write_tokens(tokens, users)
    logger.info("minted %d token pairs in %.1f s", users, time.monotonic() - started)
    names = workdir / "usernames.json"
    names.write_text(json.dumps([{"username": subject(i)} for i in range(users)]), encoding="utf-8")
    return {"ours": tokens, "insecure": names}


def _measure(
    target: str, scenarios: list[Scenario], workdir: Path, idp: BenchIdP, auths: Path
) -> tuple[dict[str, float], dict[str, Any], dict[str, Any]]:
    with start(target, workdir, idp) as served:
        logger.info("%s: pid %d at %s", target, served.pid, served.url)
        runs = run_all(
            scenarios,
            url=served.url,
            server_pid=lambda: served.pid,
            auths=auths,
            workdir=workdir,
            restart=served.restart,
        )
    cpu = {name: cpu_report(name, run) for name, run in runs.items()}
    details = {name: run.result for name, run in runs.items()}
    return figures(runs), cpu, details


def run(
    targets: list[str],
    *,
    quick: bool,
    workdir: Path,
    rounds: int = 1,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Measure every target, ``rounds`` times interleaved; each figure is the median of its rounds.

    Interleaving (baseline, ours, …, baseline, ours, …) spreads the drift of a shared machine
    over every target instead of landing on whichever ran during a busy minute. A target that
    fails is reported in ``errors`` and skipped.
    """
    scenarios = [s for s in plan(quick) if only is None or s.name in only]
    idp = BenchIdP()
    idp.serve()
    try:
        auths = _auth_files(workdir, idp, users_needed(scenarios))
        results: dict[str, Any] = {
            "meta": _meta(targets, quick, scenarios, rounds),
            "figures": {figure: {} for figure in report.FIGURES},
            "cpu": {s.name: {} for s in scenarios},
            "details": {s.name: {} for s in scenarios},
            "errors": {},
            "samples": {figure: {} for figure in report.FIGURES},
        }
        for round_number in range(1, rounds + 1):
            for target in targets:
                if target in results["errors"]:
                    continue
                _measure_round(results, target, round_number, scenarios, workdir, idp, auths)
        for figure, by_target in results["samples"].items():
            for target, values in by_target.items():
                results["figures"][figure][target] = statistics.median(values)
    finally:
        idp.close()
    results["ratios"] = report.ratios(results["figures"])
    results["targets"] = report.verdicts(results["ratios"])
    results["cpu_vs_node"] = report.cpu_versus_node(results["cpu"])
    return results


def _measure_round(
    results: dict[str, Any],
    target: str,
    round_number: int,
    scenarios: list[Scenario],
    workdir: Path,
    idp: BenchIdP,
    auths: dict[str, Path],
) -> None:
    load = os.getloadavg()
    results["meta"]["loadavg_before"].setdefault(target, []).append(load)
    logger.info("round %d: measuring %s (load average %.2f)", round_number, target, load[0])
    kind = "ours" if target.startswith("ours") else "insecure"
    try:
        found, cpu, details = _measure(target, scenarios, workdir, idp, auths[kind])
    except Exception as exc:  # one broken target must not lose the others' figures
        logger.error("%s failed: %s", target, exc)
        results["errors"][target] = "".join(traceback.format_exception(exc))
        return
    for figure, value in found.items():
        results["samples"][figure].setdefault(target, []).append(value)
    for scenario in cpu:  # the CPU split and details of the last round
        results["cpu"][scenario][target] = cpu[scenario]
        results["details"][scenario][target] = details[scenario]


def _meta(
    targets: list[str], quick: bool, scenarios: list[Scenario], rounds: int
) -> dict[str, Any]:
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return {
        "mode": "quick" if quick else "full",
        "rounds": rounds,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "targets": targets,
        "python": platform.python_version(),
        "node": node.stdout.strip(),
        "machine": {"cpus": _cpu_count(), "platform": platform.platform()},
        "scenarios": {s.name: s.params for s in scenarios},
        "loadavg_before": {},
        "ours_session_overrides": session_overrides(),
    }


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run of a few seconds")
    parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help=f"comma-separated, from {','.join(TARGETS)} (baseline is needed for ratios)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the JSON results")
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="interleaved rounds, median per figure (default: 3, or 1 with --quick)",
    )
    parser.add_argument(
        "--scenarios",
        default=None,
        help="comma-separated scenario names to run (default: all); for a quick look at one",
    )
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.scenarios.split(",")] if args.scenarios else None
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {','.join(TARGETS)}")
    names = [s.name for s in plan(args.quick)]
    if only is not None and (wrong := sorted(set(only) - set(names))):
        parser.error(f"unknown scenarios {wrong}; choose from {','.join(names)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    ensure_node_modules()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as workdir:
        rounds = args.rounds or (1 if args.quick else 3)
        results = run(targets, quick=args.quick, workdir=Path(workdir), rounds=rounds, only=only)
    results["meta"]["elapsed_s"] = round(time.monotonic() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(report.table(results))
    print(f"\nwritten to {args.output} in {results['meta']['elapsed_s']} s")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
