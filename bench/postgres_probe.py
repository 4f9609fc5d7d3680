"""PostgreSQL as the cluster bench sees it: its CPU (``/proc``) and its write transactions.

Backends come and go (each node's pool opens its own), so a CPU reading is per pid and the CPU
of a window counts only what processes alive at its end used in it (a backend born inside it
started at zero). Other databases on this shared server are counted too: an upper bound.

Write transactions are counted by the next transaction id (``pg_current_snapshot``'s xmax),
which is exact at any instant (``pg_stat_database`` lags up to a second behind busy backends)
but server-wide: another database's writes in the window would count too.
"""

from pathlib import Path

import asyncpg

from bench.procstat import sample
from tests.support.databases import POSTGRES_ADMIN_DSN, run_sync

_NAME = "postgres"


def backend_cpu() -> dict[int, float]:
    """CPU seconds so far of every process named ``postgres`` (pid → seconds)."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text(encoding="ascii").strip() != _NAME:
                continue
            found[int(entry.name)] = sample(int(entry.name)).cpu_seconds
        except (OSError, ValueError):
            continue  # the process ended while we read it
    return found


def cpu_between(start: dict[int, float], end: dict[int, float]) -> float:
    """CPU seconds PostgreSQL used between two readings."""
    return sum(seconds - start.get(pid, 0.0) for pid, seconds in end.items())


def write_transactions() -> int:
    """Transaction ids the server has assigned so far (one per transaction that wrote)."""
    return run_sync(_next_xid())


async def _next_xid() -> int:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=10)
    try:
        # Reading the snapshot assigns no transaction id of its own.
        value = await connection.fetchval("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")
    finally:
        await connection.close()
    return int(value)
