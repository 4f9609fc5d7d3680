"""Metrics: Prometheus families in a registry of the application's own, and where they are served."""

from server.metrics.endpoint import MetricsEndpoint, MetricsServer
from server.metrics.families import OK, ChatMetrics
from server.metrics.live import LiveCollector, ProviderFigures

__all__ = [
    "OK",
    "ChatMetrics",
    "LiveCollector",
    "MetricsEndpoint",
    "MetricsServer",
    "ProviderFigures",
]
