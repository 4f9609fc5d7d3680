"""OutboxQueue: Engine.IO's per-socket packet queue, which knows when its writer holds nothing.

A broadcast may skip the queue (``GuardedServer.write_direct``) only if no packet for that socket
is waiting anywhere: in the queue, taken off it but not yet sent (Engine.IO's writer takes
several at once; on Python 3.11 it takes them in a task of its own), while the broadcasts that cannot be
written directly are put on the queue at once (``GuardedServer.enqueue``), never from a task.
The writer asks for the next packet only after it sent all it took, so a ``get`` on an empty
queue is the moment it holds nothing: the queue is *idle* from then until anything is put.
"""

import asyncio
from collections.abc import Callable
from typing import Any


class OutboxQueue(asyncio.Queue[Any]):
    """``asyncio.Queue`` with ``idle``: nothing queued, nor taken off it and still unsent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle = False  # until the writer first waits on it
        self.on_put: Callable[[], None] | None = None  # a writer that runs only when needed

    async def get(self) -> Any:
        if self.empty():
            self.idle = True
        return await super().get()

    def put_nowait(self, item: Any) -> None:  # ``put`` calls this too
        self.idle = False
        super().put_nowait(item)
        if self.on_put is not None:
            self.on_put()
