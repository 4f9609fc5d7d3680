"""The scenarios, their sizes (full and ``--quick``), and the figures each one yields."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.loadgen import LoadError, Run, run_scenario


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
        # Last: it restarts the server. Every client reconnects as the web app does.
        Scenario(
            "storm",
            "storm",
            {"clients": 100 if quick else 2000, "concurrency": 50, "maxWaitS": 60},
            180,
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
    """The headline figures of one target, from whichever scenario runs it has."""
    out: dict[str, float] = {}
    if (connects := runs.get("connects")) is not None:
        idle_bytes = connects.server["idle"].rss_bytes - connects.server["begin"].rss_bytes
        out["connects_per_s"] = connects.result["connects_per_s"]
        out["idle_kib_per_conn"] = idle_bytes / 1024 / connects.result["clients"]
    if (persisted := runs.get("persisted")) is not None:
        out["persisted_msgs_per_s"] = persisted.result["acked_per_s"]
        out["persisted_deliveries_per_s"] = persisted.result["deliveries_per_s"]
    for name in ("fanout_100", "fanout_500"):
        if (fanout := runs.get(name)) is not None:
            out[f"{name}_deliveries_per_s"] = fanout.result["deliveries_per_s"]
    if (latency := runs.get("latency")) is not None:
        out["latency_p50_ms"] = latency.result["p50_ms"]
        out["latency_p99_ms"] = latency.result["p99_ms"]
    if (storm := runs.get("storm")) is not None:
        if storm.result["storm_s"] is None:
            raise LoadError(
                f"storm: {storm.result['rejoined']} of {storm.result['clients']} clients came"
                f" back (refusals {storm.result['refusals']})"
            )
        out["storm_s"] = storm.result["storm_s"]
    return out


def _operations(name: str, result: dict[str, Any]) -> float:
    # What one unit of server work is in each scenario, for "server CPU µs per operation".
    if name == "connects":
        return float(result["clients"])
    if name == "latency":
        return float(result["samples"])
    if name == "persisted":
        return float(result["acked"])
    if name == "storm":
        return float(result["rejoined"])
    return float(result["delivered"])


def cpu_report(name: str, run: Run) -> dict[str, float]:
    """Who was busy in the measured window (percent of one core), and server µs per operation.

    The storm's window starts when the restarted server listens (its CPU is the new process's).
    """
    cpu = run.cpu(start="restart") if name == "storm" else run.cpu()
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
    scenarios: list[Scenario],
    *,
    url: str,
    server_pid: Callable[[], int],
    auths: Path,
    workdir: Path,
    restart: Callable[[], int] | None = None,
) -> dict[str, Run]:
    """Run every scenario once against one started server (``restart`` for the storm)."""
    return {
        s.name: run_scenario(
            url=url,
            server_pid=server_pid(),
            auths=auths,
            name=s.name,
            scenario=s.function,
            params=s.params,
            workdir=workdir,
            max_seconds=s.max_seconds,
            restart=restart,
        )
        for s in scenarios
    }
