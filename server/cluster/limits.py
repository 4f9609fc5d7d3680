"""RedisLimits: the cluster-wide connection cap and per-user message rate, atomic in Redis.

Each check is one Lua script, so two nodes admitting the same user at once cannot both take the
last place. Time is Redis's own (``TIME``): the nodes' clocks need not agree.

- A user's sockets are a sorted set ``{prefix}:conn:{user}`` of ``{node}:{sid}`` scored by
  when they stop counting. Each node refreshes its own sockets every third of
  ``socket_ttl_seconds`` (``refresh``), so the sockets of a node that died stop counting
  within the TTL, and after a Redis restart (which keeps nothing) the next refresh counts
  every live socket again.
- ``{prefix}:online`` is the same for users: who has a live socket anywhere (``online``).
- A user's message budget is a token bucket ``{prefix}:rate:{user}``.

When Redis does not answer within ``redis_timeout_seconds``, the node's own rules apply (its
own cap, its own user bucket): the limits then hold per node instead of per cluster, for as long
as the outage lasts; they never stop applying. Logged once per outage.
"""

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

from redis.asyncio import Redis

from server.config import ClusterSettings, SessionSettings
from server.sessions import LiveSession

logger = logging.getLogger(__name__)

T = TypeVar("T")
REFRESH_BATCH = 200

# KEYS: conn set, online set. ARGV: member, cap, ttl ms, user.
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
end
local expires = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], expires, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], 'GT', expires, ARGV[4])
return 1
"""

# KEYS: conn set, online set. ARGV: member, user.
_RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('ZREM', KEYS[2], ARGV[2]) end
return 1
"""

# KEYS: online set, then one conn set per socket. ARGV: ttl ms, then member, user per socket.
_REFRESH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = now + tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], expires, ARGV[2 * i - 2])
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
  redis.call('ZADD', KEYS[1], 'GT', expires, ARGV[2 * i - 1])
end
return #KEYS - 1
"""

# KEYS: online set.
_ONLINE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
"""

# KEYS: bucket. ARGV: rate per second, burst. Tokens as a decimal string, time in ms.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return taken
"""


def user_member(key: tuple[str, str]) -> str:
    """A user as stored in ``online``: the JSON of ``[issuer, subject]``."""
    return json.dumps(list(key), separators=(",", ":"))


def _user_hash(key: tuple[str, str]) -> str:
    # Issuers and subjects are long and may hold any character: keys carry a digest instead.
    return hashlib.sha256(user_member(key).encode()).hexdigest()[:32]


class RedisLimits:
    """``SharedLimits`` over one Redis, for a node named ``node_id``."""

    def __init__(
        self,
        redis: "Redis",
        cluster: ClusterSettings,
        sessions: SessionSettings,
        node_id: str,
    ) -> None:
        self._redis = redis
        self._prefix = cluster.key_prefix
        self._timeout = cluster.redis_timeout_seconds
        self._ttl_ms = int(cluster.socket_ttl_seconds * 1000)
        self.refresh_interval = cluster.socket_ttl_seconds / 3
        self._rate = sessions.user_messages_per_second
        self._burst = sessions.user_message_burst
        self._node = node_id
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)
        self._refresh = redis.register_script(_REFRESH)
        self._take = redis.register_script(_TAKE)
        self._online = redis.register_script(_ONLINE)
        self._releases: set[asyncio.Task[None]] = set()
        self.failing = False

    def _conn_key(self, key: tuple[str, str]) -> str:
        return f"{self._prefix}:conn:{_user_hash(key)}"

    @property
    def _online_key(self) -> str:
        return f"{self._prefix}:online"

    def _member(self, session: LiveSession) -> str:
        return f"{self._node}:{session.sid}"

    async def claim(self, session: LiveSession, cap: int) -> bool:
        key = session.identity.key
        keys = [self._conn_key(key), self._online_key]
        args: list[Any] = [self._member(session), cap, self._ttl_ms, user_member(key)]
        result = await self._call(self._claim(keys=keys, args=args), "claim")
        return True if result is None else bool(result)  # no answer: the node's own cap held

    def release(self, session: LiveSession) -> None:
        key = session.identity.key
        keys = [self._conn_key(key), self._online_key]
        args = [self._member(session), user_member(key)]
        task = asyncio.create_task(self._released(keys, args))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _released(self, keys: list[str], args: list[Any]) -> None:
        await self._call(self._release(keys=keys, args=args), "release")

    async def take_message(self, session: LiveSession) -> bool | None:
        keys = [f"{self._prefix}:rate:{_user_hash(session.identity.key)}"]
        result = await self._call(self._take(keys=keys, args=[self._rate, self._burst]), "take")
        return None if result is None else bool(result)

    async def refresh(self, sessions: Iterable[LiveSession]) -> int:
        """Count this node's live sockets again for another TTL; returns how many were sent."""
        live = list(sessions)
        if not live:  # still one call: a node without sockets must notice Redis is back too
            await self._call(self._refresh(keys=[self._online_key], args=[self._ttl_ms]), "refresh")
            return 0
        sent = 0
        for start in range(0, len(live), REFRESH_BATCH):
            batch = live[start : start + REFRESH_BATCH]
            keys = [self._online_key, *(self._conn_key(s.identity.key) for s in batch)]
            args: list[Any] = [self._ttl_ms]
            for s in batch:
                args += [self._member(s), user_member(s.identity.key)]
            if await self._call(self._refresh(keys=keys, args=args), "refresh") is None:
                break
            sent += len(batch)
        return sent

    async def online(self) -> list[tuple[str, str]] | None:
        """Every user with a live socket on any node (as of each node's last refresh); None
        when Redis does not answer."""
        members = await self._call(self._online(keys=[self._online_key]), "online")
        if members is None:
            return None
        return [(issuer, subject) for issuer, subject in (json.loads(m) for m in members)]

    async def _call(self, call: Awaitable[T], what: str) -> T | None:
        try:
            async with asyncio.timeout(self._timeout):
                result = await call
        except Exception as exc:  # any Redis or network error, or the timeout: the local rule
            if not self.failing:
                logger.warning(
                    "cluster limits: Redis did not answer (%s): each node counts alone",
                    what,
                    exc_info=exc,
                )
                self.failing = True
            return None
        if self.failing:
            logger.info("cluster limits: Redis answers again")
            self.failing = False
        return result

    async def close(self) -> None:
        await asyncio.gather(*self._releases, return_exceptions=True)
