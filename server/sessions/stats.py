"""ConnectStats: this process's connects in the last hour, per provider and outcome code."""

from collections import Counter, deque

WINDOW_MINUTES = 60
UNKNOWN = ""  # refusals no provider could be named for (no token, an unknown issuer)
MAX_PROVIDERS = 1000  # ids come from the configuration, but bound the table anyway

Minute = tuple[int, Counter[str]]


class ConnectStats:
    """Counts ``ok`` and each refusal code per provider, in one-minute buckets."""

    def __init__(self) -> None:
        self._minutes: dict[str, deque[Minute]] = {}

    def record(self, provider_id: str | None, code: str, now: float) -> None:
        key = provider_id or UNKNOWN
        if key not in self._minutes and len(self._minutes) >= MAX_PROVIDERS:
            key = UNKNOWN
        minutes = self._minutes.setdefault(key, deque())
        minute = int(now // 60)
        if not minutes or minutes[-1][0] != minute:
            minutes.append((minute, Counter()))
        minutes[-1][1][code] += 1
        while minutes and minutes[0][0] <= minute - WINDOW_MINUTES:
            minutes.popleft()

    def last_hour(self, provider_id: str | None, now: float) -> dict[str, int]:
        """Outcome code → count over the last 60 minutes (``ok`` for accepted connects)."""
        oldest = int(now // 60) - WINDOW_MINUTES
        total: Counter[str] = Counter()
        for minute, counts in self._minutes.get(provider_id or UNKNOWN, ()):
            if minute > oldest:
                total.update(counts)
        return dict(total)
