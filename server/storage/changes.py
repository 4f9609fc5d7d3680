"""Committed changes that every process must follow, announced the moment they commit.

Every process already follows them durably: it polls the ``revisions`` counters and the
``logouts`` table. ``on_commit`` lets the composition root hear of them at once as well (the
cluster pokes the other nodes): a change marks its transaction (``mark``), and the callback runs
after that transaction has committed, never for one rolled back.
"""

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_KEY = "sso_chat_changes"

Kinds = frozenset[str]


def mark(conn: AsyncConnection, kind: str) -> None:
    """Announce ``kind`` (a revision name, or ``logouts``) when ``conn``'s transaction commits."""
    if conn.sync_connection is not None:
        conn.sync_connection.info.setdefault(_KEY, set()).add(kind)


def on_commit(engine: AsyncEngine, callback: Callable[[Kinds], None]) -> None:
    """Call ``callback`` (synchronously, in the committing task: it must not block) with the kinds
    each committed transaction marked."""

    def committed(conn: Connection) -> None:
        kinds = conn.info.pop(_KEY, None)
        if kinds:
            callback(frozenset(kinds))

    def rolled_back(conn: Connection) -> None:
        conn.info.pop(_KEY, None)

    event.listen(engine.sync_engine, "commit", committed)
    event.listen(engine.sync_engine, "rollback", rolled_back)
