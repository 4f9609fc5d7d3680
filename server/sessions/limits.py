"""SharedLimits: the connection cap and the per-user message rate across every process.

One process alone counts a user's sockets and messages in its registry. Several processes
serving one chat must count them together, or a user gets the cap and the rate once per process:
the cluster implements this port against Redis. An answer of ``None`` from ``take_message``
(no cluster, or the shared store not answering) means the process's own bucket decides.
"""

from typing import Protocol

from server.sessions.registry import LiveSession


class SharedLimits(Protocol):
    async def claim(self, session: LiveSession, cap: int) -> bool:
        """Count this socket towards its user's cap everywhere; False: the user is at the cap."""
        ...

    def release(self, session: LiveSession) -> None:
        """The socket is gone: stop counting it (in the background; never blocks)."""
        ...

    async def take_message(self, session: LiveSession) -> bool | None:
        """One message from the user's shared budget; None: not known here (the local rule)."""
        ...


class LocalLimits:
    """One process: the registry's own counts are the whole truth."""

    async def claim(self, session: LiveSession, cap: int) -> bool:
        return True

    def release(self, session: LiveSession) -> None:
        return None

    async def take_message(self, session: LiveSession) -> bool | None:
        return None
