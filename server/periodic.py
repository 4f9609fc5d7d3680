"""Periodic jobs that survive a failing or stuck run."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """A periodic job: its name (for logs), how often it runs, and how long one run may take.

    ``wake`` makes the next run happen now instead of at the end of the interval (a change
    announced by another process): several wakes before it starts make one run."""

    name: str
    interval: float
    run: Callable[[], Awaitable[object]]
    timeout: float = 30.0
    _woken: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)

    def wake(self) -> None:
        self._woken.set()

    async def _next(self) -> None:
        try:
            async with asyncio.timeout(self.interval):
                await self._woken.wait()
        except TimeoutError:
            pass
        self._woken.clear()


async def every(job: Job) -> None:
    """Run ``job`` for ever; a run that fails or exceeds its timeout is logged and abandoned,
    and the next run happens on time all the same."""
    while True:
        await job._next()
        try:
            async with asyncio.timeout(job.timeout):
                await job.run()
        except TimeoutError:
            logger.warning("periodic job %s took over %.1f s: abandoned", job.name, job.timeout)
        except Exception:  # one failed run must not stop the next
            logger.exception("periodic job %s failed", job.name)


@asynccontextmanager
async def running(jobs: list[Job]) -> AsyncIterator[None]:
    """Run the jobs in the background for the duration of the block."""
    tasks = [asyncio.create_task(every(job)) for job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
