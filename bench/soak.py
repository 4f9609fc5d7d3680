"""A bounded soak: one server of ours under a churn of users for minutes, its gauges watched.

Usage: ``python -m bench.soak [--minutes 10] [--clients 500] [--rate 10] [--database postgresql]``
(``--quick``: 0.5 minutes, 20 clients). Not part of the test suite (a smoke test runs ``--quick``).

Each user connects, joins ``general``, chats (``--rate`` messages/s over all users), refreshes its
tokens half-way through the session and disconnects, again and again (the Node load generator's
``churn`` scenario). Every 10 s this side scrapes the server's ``/metrics``: a leak shows as a
slope of resident memory, open descriptors, asyncio tasks or connections that the churn does not
explain. At the end every acknowledged message is looked up in the database. A table is printed
and the figures go to ``bench/results/soak-latest.json``.
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from bench.idp import TOKEN_TTL_SECONDS, BenchIdP
from bench.loadgen import run_scenario
from bench.targets import ensure_node_modules, free_port, start_ours
from server.storage import create_engine
from tests.support.databases import migrated_database

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "soak-latest.json"
WATCHED = (
    "process_resident_memory_bytes",
    "process_open_fds",
    "chat_asyncio_tasks",
    "chat_connections",
)
# Kept by label at the end of the run: what the server itself counted.
COUNTED = (
    "chat_connects_total",
    "chat_sessions_ended_total",
    "chat_events_total",
    "chat_rate_limited_total",
    "chat_messages_persisted_total",
)
SCRAPE_INTERVAL_S = 10.0
# After the load, until the tasks stop falling: engine.io's ping task of a closed socket sleeps
# out its ping interval (25 s) before it ends, so tasks lag the disconnects by that much.
SETTLE_S = 40.0
STEADY_SCRAPES = 4
CLIENT_ID_PREFIX = "soak-"


class Scrape:
    """One reading of ``/metrics``: every sample summed over its labels, and COUNTED by label."""

    def __init__(self, body: str) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.labelled: dict[str, float] = {}
        self.families: set[str] = set()
        for family in text_string_to_metric_families(body):
            self.families.add(family.name)
            for sample in family.samples:
                self.totals[sample.name] += sample.value
                if sample.name in COUNTED:
                    labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                    self.labelled[f"{sample.name}{{{labels}}}"] = sample.value

    def watched(self) -> dict[str, float | None]:
        # A labelled gauge without children (no socket yet) is there but has no sample: 0.
        return {
            name: self.totals.get(name, 0.0) if name in self.families else None for name in WATCHED
        }


def scrape(url: str) -> Scrape:
    response = httpx.get(url, timeout=5)
    response.raise_for_status()
    return Scrape(response.text)


class Sampler:
    """Scrapes ``url`` every ``interval`` seconds in a thread; ``points`` are (seconds, values)."""

    def __init__(self, url: str, interval: float = SCRAPE_INTERVAL_S) -> None:
        self.url = url
        self.points: list[tuple[float, dict[str, float | None]]] = []
        self.failures = 0
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started = 0.0

    def start(self) -> None:
        self._started = time.monotonic()
        self.take()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def take(self) -> None:
        try:
            values = scrape(self.url).watched()
        except httpx.HTTPError as exc:  # one missed reading is a gap, not a failed soak
            self.failures += 1
            logger.warning("scrape failed: %s", exc)
            return
        self.points.append((time.monotonic() - self._started, values))

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.take()


def settle(url: str, timeout: float) -> tuple[Scrape, list[dict[str, float | None]]]:
    """Scrape every second until no socket is left and the task count held for STEADY_SCRAPES
    readings (or ``timeout`` passed); returns the last scrape and the readings."""
    begun = time.monotonic()
    series: list[dict[str, float | None]] = []
    while True:
        last = scrape(url)
        series.append({"t_s": round(time.monotonic() - begun, 1), **last.watched()})
        tasks = {reading["chat_asyncio_tasks"] for reading in series[-STEADY_SCRAPES:]}
        steady = len(series) >= STEADY_SCRAPES and len(tasks) == 1
        if (steady and not series[-1]["chat_connections"]) or time.monotonic() > begun + timeout:
            return last, series
        time.sleep(1.0)


def slope_per_minute(points: list[tuple[float, float]]) -> float | None:
    """The least-squares slope of ``(seconds, value)`` points, per minute (None under 2 points)."""
    if len(points) < 2:
        return None
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    covariance = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return covariance / spread * 60


def summarize(points: list[tuple[float, dict[str, float | None]]], after: Scrape) -> dict[str, Any]:
    """Start, end, extremes and slopes of each watched gauge while loaded, and its value after.

    ``steady_slope_per_min`` uses the second half only: the ramp-up is not a leak.
    """
    summary: dict[str, Any] = {}
    half = points[-1][0] / 2 if points else 0.0
    for name in WATCHED:
        clean = [(t, value) for t, v in points if (value := v[name]) is not None]
        values = [value for _, value in clean]
        summary[name] = {
            "start": values[0] if values else None,
            "end": values[-1] if values else None,
            "min": min(values, default=None),
            "max": max(values, default=None),
            "slope_per_min": slope_per_minute(clean),
            "steady_slope_per_min": slope_per_minute([(t, v) for t, v in clean if t >= half]),
            "after": after.watched()[name],
        }
    return summary


async def _stored_client_ids(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT client_id FROM messages WHERE client_id LIKE :prefix"),
                {"prefix": f"{CLIENT_ID_PREFIX}%"},
            )
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


def check_database(database_url: str, acked: list[str]) -> dict[str, Any]:
    """Which acknowledged client_ids have no row: an ack promises a committed message."""
    stored = asyncio.run(_stored_client_ids(database_url))
    missing = sorted(set(acked) - stored)
    return {
        "acked": len(acked),
        "stored": len(stored),
        "missing": len(missing),
        "missing_examples": missing[:10],
        "all_acked_stored": not missing,
    }


def churn_params(args: argparse.Namespace, refresh: Path) -> dict[str, Any]:
    """Sessions of 10-30 s (shorter in a short run, so users come back several times)."""
    seconds = args.minutes * 60
    longest = min(30.0, seconds / 3)
    return {
        "clients": args.clients,
        "durationS": seconds,
        "rate": args.rate,
        "sessionS": [min(10.0, longest / 2), longest],
        "pauseS": [0.5, 2.0],
        "rampS": min(10.0, seconds / 4),
        "refreshAuths": str(refresh),
    }


def soak(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Start the IdP and one server, run the churn while sampling, then check the database."""
    idp = BenchIdP()
    idp.serve()
    try:
        auths, refresh = workdir / "tokens.json", workdir / "refresh.json"
        idp.write_tokens(auths, args.clients)
        idp.write_tokens(refresh, args.clients)  # same users, new tokens
        (database_dir := workdir / "db").mkdir()
        metrics_port = free_port()
        metrics: dict[str, object] = {"enabled": True, "host": "127.0.0.1", "port": metrics_port}
        with (
            migrated_database(args.database, database_dir) as database_url,
            start_ours(workdir, idp, database_url, metrics=metrics) as served,
        ):
            sampler = Sampler(f"http://127.0.0.1:{metrics_port}/metrics")
            _wait_for_metrics(sampler.url)
            sampler.start()
            try:
                run = run_scenario(
                    url=served.url,
                    server_pid=served.pid,
                    auths=auths,
                    name="soak",
                    scenario="churn",
                    params=churn_params(args, refresh),
                    workdir=workdir,
                    max_seconds=args.minutes * 60 + 120,
                )
            finally:
                sampler.stop()
            after, settling = settle(sampler.url, args.settle)
            database = check_database(database_url, run.result.pop("acked_ids"))
    finally:
        idp.close()
    cpu = run.cpu()
    return {
        "load": run.result,
        "server_cpu_pct": round(100 * cpu["server_cpu_s"] / cpu["wall_s"], 1),
        "other_cpu_s": round(cpu["other_cpu_s"], 1),
        "metrics": summarize(sampler.points, after),
        "samples": [{"t_s": round(t, 1), **values} for t, values in sampler.points],
        "settling": settling,
        "settle_s": settling[-1]["t_s"],
        "scrape_failures": sampler.failures,
        "counters_after": after.labelled,
        "database": database,
    }


def _wait_for_metrics(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            scrape(url)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def table(results: dict[str, Any]) -> str:
    """The watched gauges (slopes per minute) and the outcome, as plain text."""
    scale = {"process_resident_memory_bytes": 1 / 2**20}
    head = f"{'gauge':<34}{'start':>10}{'end':>10}{'max':>10}{'slope/min':>12}"
    lines = [head + f"{'steady/min':>12}{'after':>10}", "-" * 98]
    for name, row in results["metrics"].items():
        unit = " (MiB)" if name in scale else ""
        cells = [
            _cell(row[key], scale.get(name, 1.0))
            for key in ("start", "end", "max", "slope_per_min", "steady_slope_per_min", "after")
        ]
        widths = (10, 10, 10, 12, 12, 10)
        lines.append(
            f"{name + unit:<34}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))
        )
    load, database = results["load"], results["database"]
    lines += [
        "",
        f"connects {load['connects']}, refreshes {load['refreshes']}, "
        f"acked {load['acked']}, delivered {load['delivered']}, failures {load['failures']}",
        f"acked messages in the database: {database['acked'] - database['missing']}"
        f"/{database['acked']} ({'all' if database['all_acked_stored'] else 'MISSING SOME'})",
        f"server CPU {results['server_cpu_pct']} % of one core over {load['elapsed_s']:.0f} s;"
        f" 'after': {results['settle_s']} s after the last client left",
    ]
    return "\n".join(lines)


def _cell(value: float | None, scale: float) -> str:
    return "-" if value is None else f"{value * scale:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the churn runs")
    parser.add_argument("--clients", type=int, default=500, help="users, one socket each")
    parser.add_argument("--rate", type=float, default=10.0, help="messages/s over all users")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument(
        "--settle", type=float, default=SETTLE_S, help="seconds to wait for the tasks to end"
    )
    parser.add_argument(
        "--quick", action="store_true", help="--minutes 0.5 --clients 20 --settle 5"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the JSON results")
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes, args.clients, args.settle = 0.5, 20, 5.0
    if not 0 < args.minutes * 60 < TOKEN_TTL_SECONDS - 600 or args.clients < 1 or args.rate <= 0:
        parser.error("give 0 < --minutes < 50 (the tokens' lifetime), --clients >= 1, --rate > 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per scrape otherwise
    ensure_node_modules()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="chat-soak-") as workdir:
        results = soak(args, Path(workdir))
    results["meta"] = {
        "started_at": started,
        "minutes": args.minutes,
        "clients": args.clients,
        "rate": args.rate,
        "database": args.database,
        "scrape_interval_s": SCRAPE_INTERVAL_S,
        "settle_timeout_s": args.settle,
        "loadavg_before": load_before,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    print(f"\nwritten to {args.output}")
    return 0 if results["database"]["all_acked_stored"] else 1


if __name__ == "__main__":
    sys.exit(main())
