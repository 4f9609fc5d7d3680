"""The cluster bench's figures per configuration, their ratios to one process, and the table."""

from typing import Any

from bench.cluster_load import ClusterRun

BASELINE = "ours-postgres"
# Other processes busier than this (% of one core) during a window make its figure suspect.
NOISY_OTHER_CPU_PCT = 25.0
# PUBLISH calls in a window beyond ours (one per message, one heartbeat per node and second)
# mean another user of the shared Redis was publishing too, so its CPU is not all ours.
NOISY_EXTRA_PUBLISHES = 50


def figures(runs: dict[str, ClusterRun], publishers: int) -> dict[str, float | None]:
    """The headline figures of one configuration, from its ``fanout`` and ``latency`` runs;
    ``publishers`` is how many nodes publish on Redis (0 without it)."""
    fanout = runs["fanout"].result
    window = runs["fanout"].window()
    latency = runs["latency"].result
    wall = window["wall_s"]
    messages = float(fanout["acked"])
    delivered = float(fanout["delivered"])
    return {
        "deliveries_per_s": fanout["deliveries_per_s"],
        "messages_per_s": fanout["acked_per_s"],
        "fanout_p50_ms": fanout["p50_ms"],
        "fanout_p99_ms": fanout["p99_ms"],
        "fanout_remote_p99_ms": fanout["remote_p99_ms"],
        "delivered_fraction": fanout["samples"] / fanout["expected"] if fanout["expected"] else 0.0,
        "latency_p50_ms": latency["p50_ms"],
        "latency_p99_ms": latency["p99_ms"],
        "latency_remote_p99_ms": latency["remote_p99_ms"],
        "server_cpu_us_per_delivery": 1e6 * window["server_cpu_s"] / delivered if delivered else 0,
        "redis_cpu_us_per_message": 1e6 * window["redis_cpu_s"] / messages if messages else 0,
        "postgres_cpu_us_per_message": 1e6 * window["postgres_cpu_s"] / messages if messages else 0,
        # Write transactions per message: each node's batching writer batches fewer messages.
        "transactions_per_message": window["postgres_transactions"] / messages if messages else 0,
        "server_cpu_pct": 100 * window["server_cpu_s"] / wall,
        "generator_cpu_pct": 100 * window["generator_cpu_s"] / wall,
        "redis_cpu_pct": 100 * window["redis_cpu_s"] / wall,
        "postgres_cpu_pct": 100 * window["postgres_cpu_s"] / wall,
        "other_cpu_pct": 100 * window["other_cpu_s"] / wall,
        "extra_publishes": window["redis_publish_calls"]
        - (messages + publishers * wall if publishers else 0),
        # Redis's own time inside PUBLISH (copying to each subscriber's buffer), per call.
        "redis_publish_us_per_call": (
            window["redis_publish_usec"] / window["redis_publish_calls"]
            if window["redis_publish_calls"]
            else None
        ),
        # The same for the Lua scripts (the per-user rate limit is one per message).
        "redis_evalsha_us_per_message": window["redis_evalsha_usec"] / messages if messages else 0,
    }


def ratios(by_config: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Deliveries/s of each configuration over the one-process, no-Redis baseline's."""
    base = by_config.get(BASELINE, {}).get("deliveries_per_s")
    if not base:
        return {}
    return {name: f["deliveries_per_s"] / base for name, f in by_config.items()}


_COLUMNS = (
    ("config", 14),
    ("nodes", 5),
    ("deliveries/s", 12),
    ("ratio", 6),
    ("p50 ms", 7),
    ("p99 ms", 7),
    ("p99 @50/s", 9),
    ("srv µs/deliv", 12),
    ("redis µs/msg", 12),
    ("pg µs/msg", 9),
    ("pg tx/msg", 9),
    ("cpu % srv/gen/redis/pg/other", 28),
)


def _number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if digits == 0 else f"{value:,.{digits}f}"


def _row(name: str, nodes: int, f: dict[str, Any], ratio: float | None) -> list[str]:
    split = "/".join(
        f"{f[k]:.0f}"
        for k in (
            "server_cpu_pct",
            "generator_cpu_pct",
            "redis_cpu_pct",
            "postgres_cpu_pct",
            "other_cpu_pct",
        )
    )
    noisy = f["other_cpu_pct"] > NOISY_OTHER_CPU_PCT or f["extra_publishes"] > NOISY_EXTRA_PUBLISHES
    return [
        name,
        str(nodes),
        _number(f["deliveries_per_s"], 0) + ("*" if noisy else ""),
        _number(ratio, 2),
        _number(f["fanout_p50_ms"]),
        _number(f["fanout_p99_ms"]),
        _number(f["latency_p99_ms"]),
        _number(f["server_cpu_us_per_delivery"]),
        _number(f["redis_cpu_us_per_message"]) if name != BASELINE else "-",
        _number(f["postgres_cpu_us_per_message"], 0),
        _number(f["transactions_per_message"], 2),
        split,
    ]


def table(results: dict[str, Any]) -> str:
    """The printed summary: one row per configuration, then what the figures can't show."""
    lines = ["  ".join(title.rjust(width) for title, width in _COLUMNS)]
    for name, f in results["figures"].items():
        cells = _row(name, results["meta"]["nodes_of"][name], f, results["ratios"].get(name))
        lines.append("  ".join(c.rjust(w) for c, (_, w) in zip(cells, _COLUMNS, strict=True)))
    for name, error in results["errors"].items():
        lines.append(f"{name}: failed ({error.strip().splitlines()[-1]})")
    lines += [
        "",
        "deliveries/s, p50/p99: closed loop, 100 clients in one room, 5 senders, clients spread",
        "round-robin over the nodes; p99 @50/s: open loop at 50 messages/s. ratio: deliveries/s",
        f"over {BASELINE} (one process, no Redis) in the same run. srv µs/deliv: CPU of all nodes",
        "summed; redis µs/msg: Redis's own CPU per message sent (publish, rate limit, heartbeats).",
        "pg µs/msg: PostgreSQL's CPU per message (all its processes: an upper bound); pg tx/msg:",
        "its write transactions per message. cpu %: of one core, in the fan-out window: nodes,",
        "load generator, Redis, PostgreSQL, the rest.",
        "* other processes used over 25% of a core, or someone else published on the shared Redis.",
    ]
    cpus = results["meta"]["machine"]["cpus"]
    most = max(results["meta"]["nodes_of"].values(), default=1)
    if cpus < most + 2:
        lines += [
            f"This machine has {cpus} cores: {most} nodes, Redis, PostgreSQL and the load generator",
            "compete for them, so more nodes cannot add throughput here: the figures show what the",
            "cluster costs per delivery and per message, not how far it scales out.",
        ]
    return "\n".join(lines)
