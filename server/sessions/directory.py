"""UserDirectory: who is blocked (re-read when any process changes it) and who signed in when."""

import asyncio
import logging
from collections import OrderedDict
from datetime import UTC, datetime

from server.identity import Clock, Identity
from server.storage import SeenUser, UserRepository

logger = logging.getLogger(__name__)

UserKey = tuple[str, str]
MAX_PENDING_SEEN = 50_000
SEEN_PRECISION_SECONDS = 60.0  # how exact `last_seen_at` is
MAX_RECENT = 100_000


class UserDirectory:
    """Blocks are checked on every connect and refresh from memory; every process re-reads
    them when the ``users`` revision moves (``sync``). Sign-ins are written in batches."""

    def __init__(self, repository: UserRepository, clock: Clock) -> None:
        self._repository = repository
        self._clock = clock
        self._blocked: frozenset[UserKey] = frozenset()
        self._revision: int | None = None
        self._seen: dict[UserKey, SeenUser] = {}
        self._flushing = asyncio.Lock()
        # user → (when, name, groups) of their last sign-in written (one tuple: one per user)
        self._recent: OrderedDict[UserKey, tuple[float, str, frozenset[str]]] = OrderedDict()

    def is_blocked(self, key: UserKey) -> bool:
        return key in self._blocked

    def saw(self, identity: Identity) -> None:
        """Remember a verified sign-in; written by the next ``flush``. A user seen again within
        ``SEEN_PRECISION_SECONDS`` with the same name and groups is not written again (a
        reconnect storm costs no write per reconnect)."""
        now = self._clock.monotonic()
        recent = self._recent.get(identity.key)
        if (
            recent is not None
            and recent[1:] == (identity.name, identity.groups)
            and now - recent[0] < SEEN_PRECISION_SECONDS
        ):
            return
        self._recent[identity.key] = (now, identity.name, identity.groups)
        self._recent.move_to_end(identity.key)
        while len(self._recent) > MAX_RECENT:
            self._recent.popitem(last=False)
        if len(self._seen) >= MAX_PENDING_SEEN and identity.key not in self._seen:
            return  # the database is behind: last-seen times may lag, nothing else does
        self._seen[identity.key] = SeenUser(
            issuer=identity.issuer,
            subject=identity.subject,
            provider_id=identity.provider_id,
            name=identity.name,
            groups=tuple(sorted(identity.groups)),
            seen_at=datetime.fromtimestamp(self._clock.now(), UTC),
        )

    async def flush(self) -> None:
        """Write the pending sign-ins (kept for the next flush if the write fails). Flushes run
        one at a time: when this returns, every sign-in seen before the call is written, also
        those a flush already under way was writing."""
        async with self._flushing:
            if not self._seen:
                return
            pending, self._seen = self._seen, {}
            try:
                await self._repository.record_seen(list(pending.values()))
            except Exception:
                for key, seen in pending.items():
                    self._seen.setdefault(key, seen)
                raise

    async def sync(self, revision: int | None = None) -> bool:
        """Re-read the blocks if another process (or this one) changed them; whether any did
        (``revision``: the users revision, when the caller has just read it)."""
        if revision is None:
            revision = await self._repository.revision()
        if revision == self._revision:
            return False
        blocked = frozenset(await self._repository.blocked())
        changed = blocked != self._blocked
        self._blocked, self._revision = blocked, revision
        return changed
