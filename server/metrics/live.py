"""LiveCollector: the figures read when scraped (sockets, keys, tasks), never kept twice.

Each source is a callable the composition root hands in; a scrape runs on the event loop's
thread (see ``endpoint``), so reading the server's own structures needs no lock.
"""

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


@dataclass(frozen=True, slots=True)
class ProviderFigures:
    """One provider's key state as the scrape sees it."""

    provider: str
    up: bool
    key_age_seconds: float | None
    fetches_ok: int
    fetches_failed: int


class LiveCollector(Collector):
    def __init__(
        self,
        connections: Callable[[], Mapping[str, int]],
        providers: Callable[[], Iterable[ProviderFigures]],
        cluster_status: Callable[[], str],
        deliveries: Callable[[], Mapping[str, int]] = dict,
    ) -> None:
        self._connections = connections
        self._providers = providers
        self._cluster_status = cluster_status
        self._deliveries = deliveries

    def collect(self) -> Iterator[Metric]:
        live = GaugeMetricFamily(
            "chat_connections", "Live authenticated sockets on this process.", labels=["provider"]
        )
        for provider, count in sorted(self._connections().items()):
            live.add_metric([provider], count)
        yield live
        yield from self._provider_families()
        status = self._cluster_status()
        if status != "off":
            yield GaugeMetricFamily(
                "chat_cluster_up",
                "1 while this process hears its own heartbeat through Redis.",
                value=1 if status == "ok" else 0,
            )
        deliveries = CounterMetricFamily(
            "chat_deliveries",
            "Broadcast packets handed to sockets: written straight to the transport (direct)"
            " or through Engine.IO's queue (queued).",
            labels=["path"],
        )
        for path, count in sorted(self._deliveries().items()):
            deliveries.add_metric([path], count)
        yield deliveries
        yield GaugeMetricFamily(
            "chat_asyncio_tasks", "Tasks alive on the event loop.", value=_task_count()
        )

    def _provider_families(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "chat_provider_up", "1 while usable keys are held.", labels=["provider"]
        )
        age = GaugeMetricFamily(
            "chat_jwks_key_age_seconds",
            "Seconds since the provider's keys were last fetched.",
            labels=["provider"],
        )
        fetches = CounterMetricFamily(
            "chat_jwks_fetches",
            "JWKS fetches (with discovery when needed) by result.",
            labels=["provider", "result"],
        )
        for figures in self._providers():
            up.add_metric([figures.provider], 1 if figures.up else 0)
            if figures.key_age_seconds is not None:
                age.add_metric([figures.provider], figures.key_age_seconds)
            fetches.add_metric([figures.provider, "ok"], figures.fetches_ok)
            fetches.add_metric([figures.provider, "error"], figures.fetches_failed)
        yield from (up, age, fetches)


def _task_count() -> int:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # no running loop (a scrape from a test's own thread)
        return 0
