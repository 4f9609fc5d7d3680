"""The live sessions of this process: who holds which socket, until when, at what rate."""

import heapq
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum

from server.config import SessionSettings
from server.identity import Identity
from server.sessions.ratelimit import TokenBucket

UserKey = tuple[str, str]  # (issuer, subject)


class Due(Enum):
    WARN = "warn"
    END = "end"


@dataclass(slots=True)
class LiveSession:
    """One authenticated socket."""

    sid: str
    identity: Identity
    bucket: TokenBucket
    events: TokenBucket
    generation: int = 0


@dataclass(slots=True)
class _Deadline:
    at: float
    order: int
    sid: str
    generation: int
    due: Due = field(compare=False)

    def __lt__(self, other: "_Deadline") -> bool:
        return (self.at, self.order) < (other.at, other.order)


class SessionRegistry:
    """Sessions by socket id and by user, with a heap of expiry deadlines."""

    def __init__(self, settings: SessionSettings) -> None:
        self._settings = settings
        self._by_sid: dict[str, LiveSession] = {}
        self._by_user: defaultdict[UserKey, set[str]] = defaultdict(set)
        self._user_buckets: dict[UserKey, TokenBucket] = {}
        self._deadlines: list[_Deadline] = []
        self._order = itertools.count()

    def get(self, sid: str) -> LiveSession | None:
        return self._by_sid.get(sid)

    def sessions(self) -> list[LiveSession]:
        return list(self._by_sid.values())

    def count_for(self, identity: Identity) -> int:
        return len(self._by_user.get(identity.key, ()))

    def add(self, sid: str, identity: Identity, now: float) -> LiveSession:
        s = self._settings
        session = LiveSession(
            sid,
            identity,
            TokenBucket.full(s.messages_per_second, s.message_burst, now),
            TokenBucket.full(s.events_per_second, s.event_burst, now),
        )
        self._by_sid[sid] = session
        self._by_user[identity.key].add(sid)
        self._schedule(session)
        return session

    def replace_identity(self, session: LiveSession, identity: Identity) -> None:
        """New tokens for the same user: new expiry, name and groups."""
        session.identity = identity
        session.generation += 1
        self._schedule(session)

    def remove(self, sid: str) -> LiveSession | None:
        session = self._by_sid.pop(sid, None)
        if session is not None:
            sids = self._by_user[session.identity.key]
            sids.discard(sid)
            if not sids:
                # The user's message bucket outlives the socket: reconnecting must not refill it.
                # It is forgotten once it would be full again anyway (forget_refilled_buckets).
                del self._by_user[session.identity.key]
        return session

    def forget_refilled_buckets(self, now: float) -> int:
        """Drop the message buckets of users with no socket whose bucket has refilled."""
        idle = [
            key
            for key, bucket in self._user_buckets.items()
            if key not in self._by_user and bucket.refilled(now)
        ]
        for key in idle:
            del self._user_buckets[key]
        return len(idle)

    def take_message_token(self, session: LiveSession, now: float) -> bool:
        """Both the connection's and the user's bucket must allow one more message."""
        return self.take_connection_token(session, now) and self.take_user_token(session, now)

    def take_connection_token(self, session: LiveSession, now: float) -> bool:
        return session.bucket.take(now)

    def take_user_token(self, session: LiveSession, now: float) -> bool:
        """The user's bucket on this process (over all their connections here)."""
        s = self._settings
        user = self._user_buckets.get(session.identity.key)
        if user is None:
            user = TokenBucket.full(s.user_messages_per_second, s.user_message_burst, now)
            self._user_buckets[session.identity.key] = user
        return user.take(now)

    def due(self, now: float) -> list[tuple[Due, LiveSession]]:
        """Sessions whose expiry warning or end is due, each once per token generation."""
        found: list[tuple[Due, LiveSession]] = []
        while self._deadlines and self._deadlines[0].at <= now:
            deadline = heapq.heappop(self._deadlines)
            session = self._by_sid.get(deadline.sid)
            if session is None or session.generation != deadline.generation:
                continue  # disconnected or refreshed since
            found.append((deadline.due, session))
        return found

    def _schedule(self, session: LiveSession) -> None:
        expires = session.identity.expires_at
        warn_at = expires - self._settings.expiry_warning_seconds
        end_at = expires + self._settings.expiry_grace_seconds
        for at, due in ((warn_at, Due.WARN), (end_at, Due.END)):
            heapq.heappush(
                self._deadlines,
                _Deadline(at, next(self._order), session.sid, session.generation, due),
            )
