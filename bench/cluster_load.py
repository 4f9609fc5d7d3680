"""One load-generator process driving several nodes at once, with every process's CPU sampled.

A single generator keeps the measurement honest: all senders and receivers are in one room on
one clock, client k connects to node k mod N, and every delivery (local or across Redis) is
counted and timed by the same process. At each ``{"sync": NAME}`` line the generator pauses
while this side reads the CPU time of each node, of the generator, of Redis, of PostgreSQL and
of the whole machine.
"""

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import postgres_probe
from bench.loadgen import LoadError, generator
from bench.procstat import machine_busy_seconds, sample
from bench.redis_probe import RedisProbe, RedisReading


@dataclass(frozen=True, slots=True)
class Reading:
    """Everything read at one sync point."""

    time: float
    machine_cpu_s: float
    node_cpu_s: tuple[float, ...]
    generator_cpu_s: float
    redis: RedisReading
    postgres_cpu_s: dict[int, float]
    postgres_transactions: int


@dataclass
class ClusterRun:
    """A scenario's result and the readings at its sync points."""

    result: dict[str, Any]
    readings: dict[str, Reading] = field(default_factory=dict)

    def window(self, start: str = "begin", end: str = "end") -> dict[str, float]:
        """Wall seconds of the window and the CPU seconds each party used in it."""
        a, b = self.readings[start], self.readings[end]
        nodes = sum(b.node_cpu_s) - sum(a.node_cpu_s)
        generator = b.generator_cpu_s - a.generator_cpu_s
        redis = b.redis.cpu_seconds - a.redis.cpu_seconds
        postgres = postgres_probe.cpu_between(a.postgres_cpu_s, b.postgres_cpu_s)
        machine = b.machine_cpu_s - a.machine_cpu_s
        return {
            "wall_s": b.time - a.time,
            "server_cpu_s": nodes,
            "generator_cpu_s": generator,
            "redis_cpu_s": redis,
            "redis_info_cpu_s": b.redis.info_cpu_seconds - a.redis.info_cpu_seconds,
            "redis_publish_calls": b.redis.publish_calls - a.redis.publish_calls,
            "redis_publish_usec": b.redis.publish_usec - a.redis.publish_usec,
            "redis_evalsha_calls": b.redis.evalsha_calls - a.redis.evalsha_calls,
            "redis_evalsha_usec": b.redis.evalsha_usec - a.redis.evalsha_usec,
            "postgres_cpu_s": postgres,
            "postgres_transactions": b.postgres_transactions - a.postgres_transactions,
            # Anything else busy on this shared machine (other test runs) skews the window.
            "other_cpu_s": max(0.0, machine - nodes - generator - redis - postgres),
        }

    def node_cpu_s(self, start: str = "begin", end: str = "end") -> list[float]:
        """CPU seconds of each node in the window (how evenly the load spread)."""
        a, b = self.readings[start], self.readings[end]
        return [y - x for x, y in zip(a.node_cpu_s, b.node_cpu_s, strict=True)]


def run_on_nodes(
    *,
    urls: list[str],
    node_pids: list[int],
    redis: RedisProbe,
    auths: Path,
    name: str,
    scenario: str,
    params: dict[str, Any],
    workdir: Path,
    max_seconds: float,
) -> ClusterRun:
    """Run the generator's ``scenario`` with clients spread round-robin over ``urls``.

    Raises:
        LoadError: the generator reported an error or ended without a result.
    """
    spec = {
        "url": urls[0],
        "urls": urls,
        "auths": str(auths),
        "scenario": scenario,
        "params": params,
        "maxSeconds": max_seconds,
    }
    with generator(spec, name, workdir, max_seconds) as (proc, log):
        return _converse(proc, node_pids, redis, log)


def _read(proc: subprocess.Popen[bytes], node_pids: list[int], redis: RedisProbe) -> Reading:
    # First: the short-lived backend that answers is then gone from the CPU reading.
    transactions = postgres_probe.write_transactions()
    return Reading(
        time=time.monotonic(),
        machine_cpu_s=machine_busy_seconds(),
        node_cpu_s=tuple(sample(pid).cpu_seconds for pid in node_pids),
        generator_cpu_s=sample(proc.pid).cpu_seconds,
        redis=redis.reading(),
        postgres_cpu_s=postgres_probe.backend_cpu(),
        postgres_transactions=transactions,
    )


def _converse(
    proc: subprocess.Popen[bytes], node_pids: list[int], redis: RedisProbe, log: Path
) -> ClusterRun:
    assert proc.stdout is not None
    assert proc.stdin is not None
    run = ClusterRun(result={})
    for line in proc.stdout:
        message = json.loads(line)
        if "sync" in message:
            run.readings[message["sync"]] = _read(proc, node_pids, redis)
            proc.stdin.write(b"\n")
            proc.stdin.flush()
        elif "result" in message:
            run.result = message["result"]
        elif "error" in message:
            raise LoadError(message["error"])
    if not run.result:
        stderr = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise LoadError(f"the load generator ended without a result:\n{stderr}")
    return run
