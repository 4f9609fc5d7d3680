"""The scenarios, their sizes (full and ``--quick``), and the figures each one yields."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.loadgen import Run, run_scenario


@dataclass(frozen=True, slots=True)
class Scenario:
    """One generator run: its name, the generator function, its parameters, its time bound."""

    name: str
    function: str
    params: dict[str, Any]
    max_seconds: float


def plan(quick: bool) -> list[Scenario]:
    """Every scenario, in the order they run against each target (connects first: fresh users)."""
    seconds = 1.0 if quick else 8.0
    idle = 200 if quick else 1000
    return [
        Scenario(
            "connects",
            "connects",
            {
                "clients": idle,
                "concurrency": 20 if quick else 50,
                "warmup": 5 if quick else 20,
                "settleMs": 300 if quick else 1000,
                "waves": 1 if quick else 4,
            },
            120,
        ),
        Scenario(
            "persisted",
            "closedLoop",
            _closed_loop(clients=10 if quick else 50, senders=10 if quick else 50, seconds=seconds),
            60,
        ),
        Scenario("fanout_100", "closedLoop", _closed_loop(100, 5, seconds), 60),
        Scenario("fanout_500", "closedLoop", _closed_loop(500, 5, seconds), 90),
        Scenario(
            "latency",
            "latency",
            {
                "clients": 100,
                "rate": 50,
                "warmupS": 0.5 if quick else 1.0,
                "durationS": seconds,
                "concurrency": 50,
            },
            60,
        ),
    ]


def _closed_loop(clients: int, senders: int, seconds: float) -> dict[str, Any]:
    return {
        "clients": clients,
        "senders": senders,
        "durationS": seconds,
        "maxMessages": 200_000,
        "concurrency": 50,
    }


def users_needed(scenarios: list[Scenario]) -> int:
    """Distinct users (token pairs) the plan connects, warm-up users included."""
    return max(int(s.params["clients"]) + int(s.params.get("warmup", 0)) for s in scenarios)


def figures(runs: dict[str, Run]) -> dict[str, float]:
    """The headline figures of one target, from its scenario runs."""
    connects = runs["connects"]
    idle_bytes = connects.server["idle"].rss_bytes - connects.server["begin"].rss_bytes
    latency = runs["latency"].result
    return {
        "connects_per_s": connects.result["connects_per_s"],
        "persisted_msgs_per_s": runs["persisted"].result["acked_per_s"],
        "persisted_deliveries_per_s": runs["persisted"].result["deliveries_per_s"],
        "fanout_100_deliveries_per_s": runs["fanout_100"].result["deliveries_per_s"],
        "fanout_500_deliveries_per_s": runs["fanout_500"].result["deliveries_per_s"],
        "latency_p50_ms": latency["p50_ms"],
        "latency_p99_ms": latency["p99_ms"],
        "idle_kib_per_conn": idle_bytes / 1024 / connects.result["clients"],
    }


def _operations(name: str, result: dict[str, Any]) -> float:
    # What one unit of server work is in each scenario, for "server CPU µs per operation".
    if name == "connects":
        return float(result["clients"])
    if name == "latency":
        return float(result["samples"])
    if name == "persisted":
        return float(result["acked"])
    return float(result["delivered"])


def cpu_report(name: str, run: Run) -> dict[str, float]:
    """Who was busy in the measured window (percent of one core), and server µs per operation."""
    cpu = run.cpu()
    wall = cpu["wall_s"]
    operations = _operations(name, run.result)
    return {
        "wall_s": wall,
        "server_cpu_pct": 100 * cpu["server_cpu_s"] / wall,
        "generator_cpu_pct": 100 * cpu["generator_cpu_s"] / wall,
        "other_cpu_pct": 100 * cpu["other_cpu_s"] / wall,
        "server_cpu_us_per_op": 1e6 * cpu["server_cpu_s"] / operations if operations else 0.0,
    }


def run_all(
    scenarios: list[Scenario], *, url: str, server_pid: int, auths: Path, workdir: Path
) -> dict[str, Run]:
    """Run every scenario once against one started server."""
    return {
        s.name: run_scenario(
            url=url,
            server_pid=server_pid,
            auths=auths,
            name=s.name,
            scenario=s.function,
            params=s.params,
            workdir=workdir,
            max_seconds=s.max_seconds,
        )
        for s in scenarios
    }
