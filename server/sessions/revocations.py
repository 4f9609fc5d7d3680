"""Which sessions were logged out: an in-memory index over the stored logouts.

Checking a connect costs two dict lookups instead of a query. The index is loaded at start-up and
then follows the table (``sync``), so logouts received by another server process sharing the
database are seen within one sync interval; ``sync`` also hands back what it loaded, so that the
live sockets those logouts cover can be ended there too.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from server.identity import Identity
from server.storage import LogoutRecord, LogoutRepository


@dataclass(slots=True)
class Logouts:
    """Logouts by provider session and by subject, each keyed with the newest logout's ``iat``."""

    by_session: dict[tuple[str, str], float] = field(default_factory=dict)
    by_subject: dict[tuple[str, str], float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.by_session or self.by_subject)

    def add(self, record: LogoutRecord) -> None:
        if record.session_id is not None:
            key = (record.issuer, record.session_id)
            self.by_session[key] = max(self.by_session.get(key, 0.0), record.issued_at)
        elif record.subject is not None:
            key = (record.issuer, record.subject)
            self.by_subject[key] = max(self.by_subject.get(key, 0.0), record.issued_at)

    def covers(self, identity: Identity) -> bool:
        """A logout at or after the token's ``iat`` covers its session, or its whole subject."""
        issued = identity.issued_at
        if identity.session_id is not None:
            at = self.by_session.get((identity.issuer, identity.session_id))
            if at is not None and at >= issued:
                return True
        at = self.by_subject.get((identity.issuer, identity.subject))
        return at is not None and at >= issued

    def prune(self, older_than: float) -> None:
        """Forget logouts older than any token that could still be presented."""
        for index in (self.by_session, self.by_subject):
            for key in [key for key, at in index.items() if at < older_than]:
                del index[key]


# Why each sync re-reads a trailing window. PostgreSQL takes an id at insert time, but the
# transactions commit in any order: a logout with a lower id can become visible after a higher id
# was already read, so following ``id > last_id`` alone would skip it for good (SQLite, whose
# writers commit in id order, reuses the ids of rows once the table is pruned empty: the same
# loss). So each sync also re-reads every logout received since LATE_COMMIT_SECONDS before the
# previous successful read began, and skips the ``(issuer, jti)``s that read already returned.
# A logout becomes visible late only while its insert transaction (one INSERT and its COMMIT:
# milliseconds, unless something locks the table) is open, so the window misses it only if that
# transaction stays open longer than LATE_COMMIT_SECONDS. ``received_at`` and the read times are
# the database's clock, so the servers' clocks need not agree; and anchoring on the previous
# successful read (not on now) means failed or slow syncs lose nothing. The cost: each sync reads
# the last two minutes of logouts again (ix_logouts_received_at). A window of ids
# (``id > last_id - N``) was not chosen: more than N inserts during one slow commit, or replays
# (each burns an id), push a late logout out of it.
LATE_COMMIT_SECONDS = 120


class RevocationIndex:
    def __init__(self, logouts: LogoutRepository) -> None:
        self._logouts = logouts
        self._index = Logouts()
        self._last_id = 0
        self._stored_from: datetime | None = None  # None: the first read loads every logout
        self._seen: set[tuple[str, str]] = set()  # what the last read returned
        self._recorded_here: set[int] = set()

    async def sync(self) -> Logouts:
        """Load the logouts stored since the last sync; returns those another process stored.

        A logout recorded here was already enforced here (``record``), so it is indexed but not
        returned: its sockets are not ended twice. A logout read again (the window overlaps the last
        read) is skipped.
        """
        stored = await self._logouts.since(self._last_id, self._stored_from)
        loaded = Logouts()
        seen: set[tuple[str, str]] = set()
        for logout_id, record in stored.logouts:
            key = (record.issuer, record.jti)
            seen.add(key)
            self._last_id = max(self._last_id, logout_id)
            here = logout_id in self._recorded_here
            self._recorded_here.discard(logout_id)
            if key in self._seen:
                continue
            self._index.add(record)
            if not here:
                loaded.add(record)
        self._seen = seen
        self._stored_from = stored.read_at - timedelta(seconds=LATE_COMMIT_SECONDS)
        return loaded

    async def record(self, record: LogoutRecord) -> bool:
        """Store a logout and index it; False when its ``jti`` was already used."""
        logout_id = await self._logouts.record(record)
        if logout_id is None:
            return False
        self._index.add(record)
        self._recorded_here.add(logout_id)  # the next read that returns it forgets it again
        return True

    def is_revoked(self, identity: Identity) -> bool:
        """A stored logout at or after the token's ``iat`` covers its session or its subject."""
        return self._index.covers(identity)

    def prune(self, older_than: float) -> None:
        """Forget indexed logouts older than ``older_than`` (past retention)."""
        self._index.prune(older_than)
