"""The machine's shared Redis, as the cluster bench sees it: its CPU, its counters, our keys.

Redis is shared with other test runs on this machine, so a run uses a key prefix of its own,
deletes only that prefix's keys afterwards, and reads Redis's command counters next to its CPU:
more ``PUBLISH`` calls in a window than the bench itself made means someone else was busy too.
"""

import uuid
from dataclasses import dataclass
from typing import Any

import redis

from bench.procstat import sample

REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True, slots=True)
class RedisReading:
    """Redis's CPU so far (``/proc``, and its own ``INFO cpu``) and its command counters."""

    cpu_seconds: float
    info_cpu_seconds: float
    publish_calls: int
    publish_usec: int
    evalsha_calls: int
    evalsha_usec: int


class RedisProbe:
    """Reads one Redis server: its process (the pid it reports) and its INFO counters."""

    def __init__(self, url: str = REDIS_URL) -> None:
        self.url = url
        self._client = redis.Redis.from_url(url, socket_timeout=2)
        self.pid = int(self._client.info("server")["process_id"])

    def reading(self) -> RedisReading:
        cpu: dict[str, Any] = self._client.info("cpu")
        commands: dict[str, Any] = self._client.info("commandstats")
        publish = commands.get("cmdstat_publish", {})
        evalsha = commands.get("cmdstat_evalsha", {})
        return RedisReading(
            cpu_seconds=sample(self.pid).cpu_seconds,
            info_cpu_seconds=float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
            publish_calls=int(publish.get("calls", 0)),
            publish_usec=int(publish.get("usec", 0)),
            evalsha_calls=int(evalsha.get("calls", 0)),
            evalsha_usec=int(evalsha.get("usec", 0)),
        )

    def subscribers(self, channel: str) -> int:
        """How many connections are subscribed to ``channel`` (one per listening node)."""
        counts: list[tuple[bytes | str, int]] = self._client.pubsub_numsub(channel)
        return int(counts[0][1]) if counts else 0

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix:`` (and only those); returns how many there were."""
        keys = list(self._client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            self._client.delete(*keys)
        return len(keys)

    def close(self) -> None:
        self._client.close()


def new_prefix() -> str:
    """A key prefix no other run uses (the channel is ``{prefix}:socketio``)."""
    return f"bench-{uuid.uuid4().hex[:12]}"
