"""The multi-node figure: N processes of ours on one PostgreSQL and one Redis, against one process.

Usage: ``python -m bench.cluster [--nodes 1,2,3] [--quick] [--rounds R] [--output PATH]``

Each configuration gets a fresh migrated PostgreSQL database; the clustered ones also get a key
prefix of their own on the machine's Redis (127.0.0.1:6379), whose keys are deleted afterwards.
``ours-postgres`` (one process, no Redis) runs in the same run as the baseline of the ratios, and
the configurations are interleaved over the rounds (reversed every other round) so a busy minute
on this shared machine lands on all of them. Results go to ``bench/results/cluster-latest.json``.
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
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import cluster_report
from bench.cluster_load import ClusterRun, run_on_nodes
from bench.idp import BenchIdP
from bench.redis_probe import RedisProbe, new_prefix
from bench.scenarios import Scenario
from bench.targets import ensure_node_modules, session_overrides, start_ours
from tests.support.databases import migrated_database

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "cluster-latest.json"
CLIENTS = 100
READY_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class Configuration:
    """What one measurement starts: ``nodes`` processes, clustered through Redis or not."""

    name: str
    nodes: int
    redis: bool


def configurations(node_counts: list[int]) -> list[Configuration]:
    """The baseline (one process, no Redis) first, then one clustered run per node count."""
    clustered = [Configuration(f"cluster-{n}", n, True) for n in node_counts]
    return [Configuration(cluster_report.BASELINE, 1, False), *clustered]


def plan(quick: bool) -> list[Scenario]:
    """Saturated fan-out (throughput, CPU, latency under load), then latency at a light load."""
    seconds = 1.0 if quick else 8.0
    fanout = {
        "clients": CLIENTS,
        "senders": 5,
        "durationS": seconds,
        "maxMessages": 200_000,
        "concurrency": 50,
        "latency": True,
        "drainMs": 3000,
    }
    latency = {
        "clients": CLIENTS,
        "rate": 50,
        "warmupS": 0.5 if quick else 1.0,
        "durationS": seconds,
        "concurrency": 50,
    }
    return [
        Scenario("fanout", "closedLoop", fanout, 60),
        Scenario("latency", "latency", latency, 60),
    ]


def _wait_subscribed(probe: RedisProbe, prefix: str, urls: list[str]) -> None:
    """Until every node listens on the channel: a broadcast published before is lost to it."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while probe.subscribers(f"{prefix}:socketio") < len(urls):
        if time.monotonic() > deadline:
            raise RuntimeError(f"not every node subscribed within {READY_TIMEOUT_S} s")
        time.sleep(0.1)
    for url in urls:
        health = httpx.get(f"{url}/healthz", timeout=5).json()
        if health.get("cluster") != "ok":
            raise RuntimeError(f"{url} reports cluster {health.get('cluster')!r}")


def measure(
    config: Configuration,
    scenarios: list[Scenario],
    workdir: Path,
    idp: BenchIdP,
    auths: Path,
    probe: RedisProbe,
) -> tuple[dict[str, ClusterRun], str | None]:
    """Start ``config`` on a fresh database, run every scenario; returns the runs and the prefix."""
    prefix = new_prefix() if config.redis else None
    cluster: dict[str, object] | None = (
        {"redis_url": probe.url, "key_prefix": prefix} if prefix else None
    )
    (database_dir := workdir / f"db-{uuid.uuid4().hex[:8]}").mkdir()
    try:
        with migrated_database("postgresql", database_dir) as url, ExitStack() as stack:
            nodes = [
                stack.enter_context(start_ours(workdir, idp, url, cluster))
                for _ in range(config.nodes)
            ]
            pids, urls = [n.pid for n in nodes], [n.url for n in nodes]
            if prefix:
                _wait_subscribed(probe, prefix, urls)
            logger.info("%s: pids %s", config.name, pids)
            runs = {
                s.name: _run(f"{config.name}-{s.name}", s, urls, pids, probe, auths, workdir)
                for s in scenarios
            }
            return runs, prefix
    finally:
        if prefix:
            probe.delete_prefix(prefix)  # after the nodes stopped: nothing writes them again


def _run(
    name: str,
    scenario: Scenario,
    urls: list[str],
    pids: list[int],
    probe: RedisProbe,
    auths: Path,
    workdir: Path,
) -> ClusterRun:
    return run_on_nodes(
        urls=urls,
        node_pids=pids,
        redis=probe,
        auths=auths,
        name=name,
        scenario=scenario.function,
        params=scenario.params,
        workdir=workdir,
        max_seconds=scenario.max_seconds,
    )


def run(node_counts: list[int], *, quick: bool, rounds: int, workdir: Path) -> dict[str, Any]:
    """Measure every configuration ``rounds`` times, interleaved; each figure is the median."""
    configs = configurations(node_counts)
    scenarios = plan(quick)
    probe = RedisProbe()
    idp = BenchIdP()
    idp.serve()
    results: dict[str, Any] = {
        "meta": _meta(configs, quick, scenarios, rounds, probe),
        "samples": {c.name: {} for c in configs},
        "windows": {},
        "details": {},
        "errors": {},
    }
    try:
        auths = workdir / "tokens.json"
        idp.write_tokens(auths, CLIENTS)
        for number in range(1, rounds + 1):
            for config in configs if number % 2 else configs[::-1]:
                if config.name not in results["errors"]:
                    _measure_round(results, config, number, scenarios, workdir, idp, auths, probe)
    finally:
        idp.close()
        probe.close()
    results["figures"] = {
        name: {figure: _median(values) for figure, values in samples.items()}
        for name, samples in results["samples"].items()
        if samples
    }
    results["ratios"] = cluster_report.ratios(results["figures"])
    return results


def _measure_round(
    results: dict[str, Any],
    config: Configuration,
    number: int,
    scenarios: list[Scenario],
    workdir: Path,
    idp: BenchIdP,
    auths: Path,
    probe: RedisProbe,
) -> None:
    load = os.getloadavg()[0]
    results["meta"]["loadavg_before"].setdefault(config.name, []).append(load)
    logger.info("round %d: %s (load average %.2f)", number, config.name, load)
    try:
        runs, prefix = measure(config, scenarios, workdir, idp, auths, probe)
    except Exception as exc:  # one broken configuration must not lose the others' figures
        logger.error("%s failed: %s", config.name, exc)
        results["errors"][config.name] = "".join(traceback.format_exception(exc))
        return
    if prefix:
        results["meta"]["key_prefixes"].append(prefix)
    found = cluster_report.figures(runs, config.nodes if config.redis else 0)
    for figure, value in found.items():
        results["samples"][config.name].setdefault(figure, []).append(value)
    results["windows"][config.name] = {
        name: {**r.window(), "per_node_cpu_s": r.node_cpu_s()} for name, r in runs.items()
    }
    results["details"][config.name] = {name: r.result for name, r in runs.items()}


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _meta(
    configs: list[Configuration],
    quick: bool,
    scenarios: list[Scenario],
    rounds: int,
    probe: RedisProbe,
) -> dict[str, Any]:
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return {
        "mode": "quick" if quick else "full",
        "rounds": rounds,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "configurations": [c.name for c in configs],
        "nodes_of": {c.name: c.nodes for c in configs},
        "python": platform.python_version(),
        "node": node.stdout.strip(),
        "redis": {"url": probe.url, "pid": probe.pid},
        "machine": {"cpus": len(os.sched_getaffinity(0)), "platform": platform.platform()},
        "scenarios": {s.name: s.params for s in scenarios},
        "loadavg_before": {},
        "key_prefixes": [],
        "ours_session_overrides": session_overrides(),
    }


def _node_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or any(n < 1 or n > 8 for n in counts):
        raise argparse.ArgumentTypeError("node counts are 1 to 8, comma-separated")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--nodes", type=_node_counts, default=[1, 2, 3], help="e.g. 1,2,3")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds each")
    parser.add_argument("--rounds", type=int, default=None, help="default: 3, or 1 with --quick")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the JSON results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    ensure_node_modules()
    started = time.monotonic()
    rounds = args.rounds or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="chat-bench-cluster-") as workdir:
        results = run(args.nodes, quick=args.quick, rounds=rounds, workdir=Path(workdir))
    results["meta"]["elapsed_s"] = round(time.monotonic() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(cluster_report.table(results))
    print(f"\nwritten to {args.output} in {results['meta']['elapsed_s']} s")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
