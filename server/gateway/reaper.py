"""Closes transport connections that hold no authenticated Socket.IO session.

An Engine.IO connection costs memory whether or not it ever authenticates. A client that opens
one and never connects to the namespace (or was refused and stays) is cut off after a timeout,
so unauthenticated connections cannot pile up. Closes never wait for the client, and one close
that fails or hangs cannot stop the others or the next sweep.
"""

import logging
import time

from server.gateway.server import GuardedServer

logger = logging.getLogger(__name__)


class HalfOpenReaper:
    """Sweeps every ``timeout/2`` seconds; closes connections unauthenticated for ``timeout``."""

    def __init__(self, sio: GuardedServer, timeout_seconds: float, namespace: str = "/") -> None:
        self._sio = sio
        self._timeout = timeout_seconds
        self._namespace = namespace
        self._first_seen: dict[str, float] = {}

    @property
    def interval(self) -> float:
        return self._timeout / 2

    async def sweep(self) -> int:
        """Close the connections past the timeout; returns how many were closed."""
        now = time.monotonic()
        live = list(self._sio.eio.sockets)
        closed = 0
        for eio_sid in live:
            if self._authenticated(eio_sid):
                self._first_seen.pop(eio_sid, None)
                continue
            if now - self._first_seen.setdefault(eio_sid, now) >= self._timeout:
                logger.info("closing unauthenticated connection %s", eio_sid)
                self._first_seen.pop(eio_sid, None)
                self._sio.close_soon(eio_sid)
                closed += 1
        for gone in set(self._first_seen) - set(live):
            del self._first_seen[gone]
        return closed

    def _authenticated(self, eio_sid: str) -> bool:
        sid = self._sio.manager.sid_from_eio_sid(eio_sid, self._namespace)
        if sid is None:
            return False
        return bool(self._sio.manager.is_connected(sid, self._namespace))
