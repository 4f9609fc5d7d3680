"""Periodic jobs go on after a run that fails or hangs."""

import asyncio
import logging

import pytest

from server.periodic import Job, running


async def test_a_stuck_run_is_abandoned_and_the_next_runs_happen(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    async def first_run_hangs() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()  # never set: stuck for ever

    async with running([Job("stuck", 0.01, first_run_hangs, timeout=0.05)]):
        await asyncio.sleep(0.4)
    assert calls >= 3
    assert "periodic job stuck took over" in caplog.text


async def test_a_failing_run_is_logged_and_the_next_runs_happen(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    async def always_fails() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR):
        async with running([Job("failing", 0.01, always_fails)]):
            await asyncio.sleep(0.2)
    assert calls >= 3
    assert all(r.exc_info is not None for r in caplog.records if r.levelno >= logging.ERROR)


async def test_the_jobs_stop_with_the_block() -> None:
    calls = 0

    async def count() -> None:
        nonlocal calls
        calls += 1

    async with running([Job("count", 0.01, count)]):
        await asyncio.sleep(0.1)
    seen = calls
    await asyncio.sleep(0.1)
    assert calls == seen > 0


async def test_a_woken_job_runs_now_and_several_wakes_make_one_run() -> None:
    runs: list[float] = []
    loop = asyncio.get_running_loop()

    async def record() -> None:
        runs.append(loop.time())

    job = Job("slow", 60.0, record)
    async with running([job]):
        await asyncio.sleep(0.05)
        assert runs == []  # the first run is an interval away
        woken_at = loop.time()
        job.wake()
        job.wake()
        await asyncio.sleep(0.1)
    assert len(runs) == 1
    assert runs[0] - woken_at < 0.1
