"""Drive one scenario of the Node load generator (``bench/node/loadgen.mjs``) in its own process.

At each ``{"sync": NAME}`` line the generator pauses while this side samples the CPU time and
memory of the server and of the generator itself; the measured window is ``begin`` → ``end``.
"""

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procstat import Sample, machine_busy_seconds, sample
from bench.targets import NODE_DIR


class LoadError(RuntimeError):
    """The generator failed, timed out, or a server refused what it should accept."""


@dataclass
class Run:
    """A scenario's result and the samples taken at each sync point."""

    result: dict[str, Any]
    server: dict[str, Sample] = field(default_factory=dict)
    generator: dict[str, Sample] = field(default_factory=dict)
    times: dict[str, float] = field(default_factory=dict)
    machine: dict[str, float] = field(default_factory=dict)

    def cpu(self, start: str = "begin", end: str = "end") -> dict[str, float]:
        """Wall seconds of the window, and the CPU seconds server, generator and others used."""
        server = self.server[end].cpu_seconds - self.server[start].cpu_seconds
        generator = self.generator[end].cpu_seconds - self.generator[start].cpu_seconds
        machine = self.machine[end] - self.machine[start]
        return {
            "wall_s": self.times[end] - self.times[start],
            "server_cpu_s": server,
            "generator_cpu_s": generator,
            # Anything else busy on this shared machine (other test runs) skews the window.
            "other_cpu_s": max(0.0, machine - server - generator),
        }


def run_scenario(
    *,
    url: str,
    server_pid: int,
    auths: Path,
    name: str,
    scenario: str,
    params: dict[str, Any],
    workdir: Path,
    max_seconds: float,
    restart: Callable[[], int] | None = None,
) -> Run:
    """Run the generator's ``scenario`` against ``url``; it is killed after ``max_seconds``.

    At a ``restart`` sync the server is restarted with ``restart`` (which returns the new pid)
    before that sync's samples are taken; the samples after it are the new process's.

    Raises:
        LoadError: the generator reported an error or ended without a result.
    """
    spec = {
        "url": url,
        "auths": str(auths),
        "scenario": scenario,
        "params": params,
        "maxSeconds": max_seconds,
    }
    with generator(spec, name, workdir, max_seconds) as (proc, log):
        return _converse(proc, server_pid, log, restart)


@contextlib.contextmanager
def generator(
    spec: dict[str, Any], name: str, workdir: Path, max_seconds: float
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """The Node generator running ``spec``, with its stderr log; killed after ``max_seconds``
    (plus 10 s) and always reaped, its pipes closed."""
    spec_path = workdir / f"spec-{name}.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    log = workdir / f"loadgen-{name}.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            ["node", str(NODE_DIR / "loadgen.mjs"), str(spec_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        killer = threading.Timer(max_seconds + 10, proc.kill)
        killer.start()
        try:
            yield proc, log
        finally:
            killer.cancel()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()


def _converse(
    proc: subprocess.Popen[bytes],
    server_pid: int,
    log: Path,
    restart: Callable[[], int] | None = None,
) -> Run:
    assert proc.stdout is not None
    assert proc.stdin is not None
    run = Run(result={})
    for line in proc.stdout:
        message = json.loads(line)
        if "sync" in message:
            name = message["sync"]
            if name == "restart":
                if restart is None:
                    raise LoadError("the scenario restarts the server, but no restart was given")
                server_pid = restart()
            run.times[name] = time.monotonic()
            run.machine[name] = machine_busy_seconds()
            run.server[name] = sample(server_pid)
            run.generator[name] = sample(proc.pid)
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
