"""Which sessions were logged out: an in-memory index over the stored logouts.

Checking a connect costs two dict lookups instead of a query. The index is loaded at start-up and
then follows the table (``sync``), so logouts received by another server process sharing the
database are seen within one sync interval.
"""

from server.identity import Identity
from server.storage import LogoutRecord, LogoutRepository


class RevocationIndex:
    def __init__(self, logouts: LogoutRepository) -> None:
        self._logouts = logouts
        self._by_session: dict[tuple[str, str], float] = {}
        self._by_subject: dict[tuple[str, str], float] = {}
        self._last_id = 0

    async def sync(self) -> None:
        """Load the logouts stored since the last sync."""
        for logout_id, record in await self._logouts.since(self._last_id):
            self._add(record)
            self._last_id = max(self._last_id, logout_id)

    async def record(self, record: LogoutRecord) -> bool:
        """Store a logout and index it; False when its ``jti`` was already used."""
        logout_id = await self._logouts.record(record)
        if logout_id is None:
            return False
        self._add(record)
        return True

    def is_revoked(self, identity: Identity) -> bool:
        """A logout at or after the token's ``iat`` covers its session, or its whole subject."""
        issued = identity.issued_at
        if identity.session_id is not None:
            at = self._by_session.get((identity.issuer, identity.session_id))
            if at is not None and at >= issued:
                return True
        at = self._by_subject.get((identity.issuer, identity.subject))
        return at is not None and at >= issued

    def _add(self, record: LogoutRecord) -> None:
        if record.session_id is not None:
            key = (record.issuer, record.session_id)
            self._by_session[key] = max(self._by_session.get(key, 0.0), record.issued_at)
        elif record.subject is not None:
            key = (record.issuer, record.subject)
            self._by_subject[key] = max(self._by_subject.get(key, 0.0), record.issued_at)
