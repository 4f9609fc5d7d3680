"""ChatMetrics: every metric family the server records, in a registry of its own.

A registry per application (not prometheus_client's global one), so tests can build many apps.
Label values come from bounded sets only: provider ids, the public error codes, the known event
names (anything else is ``other``), the session-end reasons.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

OK = "ok"
# Seconds: a token verification is about 0.1 ms; a provider's JWKS fetch inside it, 10-100 ms.
VERIFY_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ChatMetrics:
    """The families, registered in ``registry`` (a new one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None, version: str = "0") -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        Gauge("chat_build_info", "The running version.", ["version"], registry=r).labels(
            version
        ).set(1)
        self.connects = Counter(
            "chat_connects", "Socket.IO connects by outcome.", ["provider", "code"], registry=r
        )
        self.verification = Histogram(
            "chat_token_verification_seconds",
            "Time to verify a connect's or a request's tokens.",
            ["outcome"],
            buckets=VERIFY_BUCKETS,
            registry=r,
        )
        self.events = Counter(
            "chat_events", "Socket.IO events by name and outcome.", ["event", "code"], registry=r
        )
        self.persisted = Counter(
            "chat_messages_persisted", "Messages committed to the database.", registry=r
        )
        self.batch_size = Histogram(
            "chat_writer_batch_size",
            "Messages per writer transaction.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.commit = Histogram(
            "chat_writer_commit_seconds",
            "Duration of one writer transaction (insert and commit).",
            buckets=COMMIT_BUCKETS,
            registry=r,
        )
        self.rate_limited = Counter(
            "chat_rate_limited", "Refusals for going too fast.", ["scope"], registry=r
        )
        self.sessions_ended = Counter(
            "chat_sessions_ended", "Live sessions ended by the server.", ["reason"], registry=r
        )
        self.backchannel = Counter(
            "chat_backchannel_logouts",
            "Back-channel logout requests by outcome.",
            ["result"],
            registry=r,
        )
        self.database_up = Gauge(
            "chat_database_up", "1 when the database answered the last check.", registry=r
        )

    def wrote(self, size: int, seconds: float, created: int) -> None:
        """One writer transaction committed (``MessageWriter``'s observer)."""
        self.batch_size.observe(size)
        if seconds:
            self.commit.observe(seconds)
        self.persisted.inc(created)
