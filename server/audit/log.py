"""AuditLog: what other packages call to record admin actions and security events."""

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from server.audit.canonical import canonical_json
from server.audit.chain import ChainHead, ChainReport, entry_hash, verify
from server.audit.masking import mask
from server.identity import Clock, SystemClock
from server.storage import GENESIS_HASH, AuditRecord, AuditRepository, NewAuditEntry

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it: an admin as verified (provider, issuer, subject, display name), or ``SYSTEM``."""

    provider_id: str | None
    issuer: str | None
    subject: str | None
    name: str | None


SYSTEM = Actor(provider_id=None, issuer=None, subject=None, name="system")


class AuditLog:
    """The tamper-evident log: records are masked, canonical, chained, and verifiable."""

    def __init__(self, repository: AuditRepository, clock: Clock | None = None) -> None:
        self._repository = repository
        self._clock = clock or SystemClock()

    async def record(
        self,
        actor: Actor,
        action: str,
        target: str,
        *,
        before: object = None,
        after: object = None,
        **details: object,
    ) -> AuditRecord:
        """Append one event; secret-looking members of ``before``, ``after`` and ``details``
        are stored as ``"***"``. Returns the stored row.

        Raises:
            NotCanonicalError: (internal_error) a value has no JSON form (a bug in the caller).
            AuditEntryRefusedError: (internal_error) a name is longer than its column.
        """
        body: dict[str, object] = {**details, "before": before, "after": after}
        if actor.issuer is not None:
            body["actor_issuer"] = actor.issuer
        entry = NewAuditEntry(
            created_at=datetime.fromtimestamp(self._clock.now(), UTC),
            actor_provider=actor.provider_id,
            actor_subject=actor.subject,
            actor_name=actor.name,
            action=action,
            target=target,
            details=canonical_json(mask(body)),
        )
        seal = _sealer(entry)
        seal(0, GENESIS_HASH)  # a value with no canonical form fails now, before an id is taken
        stored = await self._repository.append(entry, seal)
        logger.info("audit #%d %s %s", stored.id, action, target)  # never the values
        return stored

    async def note(self, actor: Actor, action: str, target: str, **details: object) -> None:
        """Record a security event, best effort: a failure is logged, never raised (the event
        itself, a logout or a refusal, must happen whether or not it can be recorded)."""
        try:
            await self.record(actor, action, target, **details)
        except Exception:  # any storage failure: the caller's work goes on
            logger.warning("could not record audit event %s", action, exc_info=True)

    async def verify(self, head: ChainHead | None = None) -> ChainReport:
        """Check the whole stored chain (and, with a published ``head``, that it still reaches it)."""
        return await verify(self._repository.rows(), head)

    async def head(self) -> ChainHead | None:
        """The newest row's id and hash: what to publish elsewhere."""
        found = await self._repository.head()
        return None if found is None else ChainHead(*found)

    async def page(
        self,
        after: int = 0,
        limit: int = 100,
        *,
        action: str | None = None,
        actor_subject: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditRecord]:
        """Rows after id ``after`` in id order, filtered (``since`` inclusive, ``until`` not)."""
        return await self._repository.page(
            after, limit, action=action, actor_subject=actor_subject, since=since, until=until
        )

    def rows(self) -> AsyncIterator[AuditRecord]:
        """Every row in id order, in batches."""
        return self._repository.rows()

    async def publish_head(self) -> ChainHead | None:
        """Log the head as one INFO line, ``audit head #<id> <hash>``, for a log store to keep."""
        head = await self.head()
        if head is not None:
            logger.info("audit head #%d %s", head.id, head.hash)
        return head


def _sealer(entry: NewAuditEntry) -> Callable[[int, str], str]:
    def seal(row_id: int, prev_hash: str) -> str:
        return entry_hash(entry.stored(row_id, prev_hash, ""))

    return seal
