"""CPU time and resident memory of a process, read from ``/proc`` (Linux; no extra dependency)."""

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading: user+system CPU seconds so far, and resident set size in bytes."""

    cpu_seconds: float
    rss_bytes: int


def sample(pid: int) -> Sample:
    """Read ``/proc/PID/stat`` and ``/proc/PID/statm``."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    # The command name (field 2) may hold spaces: the numeric fields start after its ")".
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    resident_pages = int(Path(f"/proc/{pid}/statm").read_text(encoding="ascii").split()[1])
    return Sample((utime + stime) / _TICKS, resident_pages * _PAGE)


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (``/proc/stat``; idle and iowait excluded)."""
    fields = [int(f) for f in Path("/proc/stat").read_text(encoding="ascii").split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / _TICKS
