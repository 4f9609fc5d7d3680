"""Health: is the process serving (liveness), may it take traffic (readiness), and a summary.

- ``/livez`` answers while the event loop runs: nothing it depends on is asked, so a database
  outage never gets the process restarted.
- ``/readyz`` is 503 while the database does not answer, the schema is not the latest, no
  enabled provider has usable keys, or the process is shutting down; the body says which.
- ``/healthz`` is the summary of before (each provider, the cluster), 503 only without database.
"""

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from server.errors import ConfigError
from server.identity import ProviderVerifier, TokenVerifier
from server.storage import check_schema, ping


def key_state(verifier: ProviderVerifier) -> str:
    if not verifier.provider.enabled:
        return "disabled"  # an admin's choice, not a fault
    return "ok" if verifier.keys.available else "unavailable"


class Health:
    def __init__(
        self,
        engine: AsyncEngine,
        verifier: TokenVerifier,
        cluster_status: Callable[[], str],
        on_database: Callable[[bool], None] = lambda up: None,
    ) -> None:
        self._engine = engine
        self._verifier = verifier
        self._cluster_status = cluster_status
        self._on_database = on_database  # the metrics' database_up follows every check
        self.draining = False  # set once, at shutdown

    async def database(self) -> bool:
        up = await ping(self._engine)
        self._on_database(up)
        return up

    async def summary(self) -> tuple[int, dict[str, Any]]:
        """``/healthz``: status code and body."""
        database_ok = await self.database()
        providers = {v.provider.id: key_state(v) for v in self._verifier.providers}
        cluster = self._cluster_status()
        degraded = cluster == "degraded" or any(s == "unavailable" for s in providers.values())
        body = {
            "status": "unavailable" if not database_ok else ("degraded" if degraded else "ok"),
            "database": "ok" if database_ok else "unavailable",
            "providers": providers,
            "cluster": cluster,
        }
        return (200 if database_ok else 503), body

    async def readiness(self) -> tuple[int, dict[str, Any]]:
        """``/readyz``: status code and body; the first failing check gives the reason."""
        checks: dict[str, str] = {}
        reasons: list[str] = []
        if await self.database():
            checks["database"] = "ok"
            checks["schema"] = await self._schema()
            if checks["schema"] != "ok":
                reasons.append("the database schema is not the latest: run chat-server migrate")
        else:
            checks["database"], checks["schema"] = "unavailable", "unknown"
            reasons.append("the database does not answer")
        usable = [v for v in self._verifier.providers if key_state(v) == "ok"]
        checks["providers"] = "ok" if usable else "none_usable"
        if not usable:
            reasons.append("no enabled provider has usable signing keys")
        if self.draining:
            checks["process"] = "shutting_down"
            reasons.insert(0, "the process is shutting down")
        if not reasons:
            return 200, {"status": "ready", "checks": checks}
        return 503, {"status": "not_ready", "checks": checks, "reason": reasons[0]}

    async def _schema(self) -> str:
        try:
            await check_schema(self._engine)
        except ConfigError:
            return "outdated"
        except Exception:  # the database went away between the ping and this read
            return "unknown"
        return "ok"
