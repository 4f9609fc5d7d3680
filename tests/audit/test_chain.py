"""The audit chain on SQLite and PostgreSQL: intact when untouched, and every raw-SQL edit,
removal, swap or truncation is reported at the first row it affects."""

import asyncio
import itertools
import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import (
    SYSTEM,
    Actor,
    AuditLog,
    ChainHead,
    InvalidHeadError,
    NotCanonicalError,
    entry_hash,
    parse_head,
    verify,
)
from server.storage import GENESIS_HASH, AuditEntryRefusedError, AuditRepository, create_engine
from tests.support.clock import FakeClock

ADMIN = Actor(provider_id="dev", issuer="http://127.0.0.1:9400", subject="alice", name="Alice")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=datetime(2026, 12, 8, 10, 0, 0, 123456, tzinfo=UTC).timestamp())


@pytest.fixture
def audit(engine: AsyncEngine, clock: FakeClock) -> AuditLog:
    return AuditLog(AuditRepository(engine), clock)


async def fill(audit: AuditLog, count: int) -> None:
    for n in range(1, count + 1):
        await audit.record(ADMIN, "user.block", f"user:{n}", before={"blocked": False}, n=n)


async def sql(engine: AsyncEngine, statement: str, **params: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(statement), params)


async def test_appended_rows_form_an_intact_chain(audit: AuditLog) -> None:
    await fill(audit, 5)
    rows = [row async for row in audit.rows()]
    assert [row.id for row in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert all(entry_hash(row) == row.hash for row in rows)
    report = await audit.verify()
    assert (report.ok, report.checked, report.problem) == (True, 5, None)
    assert report.head == await audit.head() == ChainHead(5, rows[-1].hash)
    assert (await audit.verify(report.head)).ok


async def test_an_empty_log_is_intact_and_has_no_head(audit: AuditLog) -> None:
    report = await audit.verify()
    assert (report.ok, report.checked, report.head) == (True, 0, None)
    assert await audit.head() is None


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("details", '{"after":null,"before":{"blocked":true},"n":3}'),
        ("action", "user.unblock"),
        ("target", "user:99"),
        ("actor_subject", "mallory"),
        ("created_at", datetime(2020, 1, 1, tzinfo=UTC)),
    ],
)
async def test_an_edited_row_is_reported_altered(
    engine: AsyncEngine, audit: AuditLog, column: str, value: object
) -> None:
    await fill(audit, 5)
    await sql(engine, f"UPDATE audit_log SET {column} = :v WHERE id = 3", v=value)
    report = await audit.verify()
    assert (report.ok, report.first_bad_id, report.problem) == (False, 3, "altered")
    assert report.checked == 2
    assert report.head == ChainHead(2, (await audit.page(after=1))[0].hash)


async def test_a_removed_middle_row_is_reported_at_the_next_row(
    engine: AsyncEngine, audit: AuditLog
) -> None:
    await fill(audit, 5)
    await sql(engine, "DELETE FROM audit_log WHERE id = 3")
    report = await audit.verify()
    assert (report.ok, report.first_bad_id, report.problem) == (False, 4, "removed")


async def test_a_removed_first_row_is_reported(engine: AsyncEngine, audit: AuditLog) -> None:
    await fill(audit, 3)
    await sql(engine, "DELETE FROM audit_log WHERE id = 1")
    report = await audit.verify()
    assert (report.ok, report.first_bad_id, report.problem) == (False, 2, "removed")


async def test_swapped_row_contents_are_detected(engine: AsyncEngine, audit: AuditLog) -> None:
    await fill(audit, 4)
    rows = {row.id: row for row in await audit.page()}
    columns = ("created_at", "actor_subject", "action", "target", "details", "prev_hash", "hash")
    await sql(engine, "UPDATE audit_log SET hash = 'swapping' WHERE id = 2")
    for target, source in ((3, 2), (2, 3)):
        values = {c: getattr(rows[source], c) for c in columns}
        sets = ", ".join(f"{c} = :{c}" for c in columns)
        await sql(engine, f"UPDATE audit_log SET {sets} WHERE id = {target}", **values)
    swapped = {row.id: row for row in await audit.page()}
    assert (swapped[2].target, swapped[3].target) == ("user:3", "user:2")
    report = await audit.verify()
    assert (report.ok, report.first_bad_id, report.problem) == (False, 2, "altered")


async def test_rows_read_out_of_order_are_reported_reordered(audit: AuditLog) -> None:
    await fill(audit, 4)
    rows = await audit.page()
    report = await verify([rows[0], rows[2], rows[1], rows[3]])
    assert (report.ok, report.first_bad_id, report.problem) == (False, 3, "reordered")
    report = await verify([rows[0], rows[1], rows[3], rows[0]])
    assert (report.ok, report.first_bad_id, report.problem) == (False, 4, "removed")
    report = await verify([rows[0], rows[1], rows[1]])
    assert (report.ok, report.first_bad_id, report.problem) == (False, 2, "reordered")


async def test_cutting_the_newest_rows_is_caught_by_the_published_head(
    engine: AsyncEngine, audit: AuditLog
) -> None:
    await fill(audit, 5)
    head = await audit.head()
    assert head is not None
    await sql(engine, "DELETE FROM audit_log WHERE id >= 4")
    assert (await audit.verify()).ok  # nothing left points at the missing rows
    report = await audit.verify(head)
    assert (report.ok, report.first_bad_id, report.problem) == (False, 5, "truncated")
    assert report.checked == 3


async def test_an_append_after_cutting_the_newest_row_shows_the_gap(
    engine: AsyncEngine, audit: AuditLog
) -> None:
    await fill(audit, 3)
    await sql(engine, "DELETE FROM audit_log WHERE id = 3")
    stored = await audit.record(SYSTEM, "logout.backchannel", "user:1")
    assert stored.id == 4  # the id of the deleted row is never handed out again
    report = await audit.verify()
    assert (report.ok, report.first_bad_id, report.problem) == (False, 4, "removed")


async def test_a_rewritten_and_rehashed_newest_row_is_caught_by_the_head(
    engine: AsyncEngine, audit: AuditLog
) -> None:
    await fill(audit, 3)
    head = await audit.head()
    newest = (await audit.page(after=2))[0]
    forged = replace(newest, target="user:99")
    forged = replace(forged, hash=entry_hash(forged))
    await sql(
        engine,
        "UPDATE audit_log SET target = :t, hash = :h WHERE id = 3",
        t=forged.target,
        h=forged.hash,
    )
    assert (await audit.verify()).ok  # a consistent rewrite: only the published head knows
    report = await audit.verify(head)
    assert (report.ok, report.first_bad_id, report.problem) == (False, 3, "altered")


async def test_a_rehashed_middle_row_breaks_the_next_link(
    engine: AsyncEngine, audit: AuditLog
) -> None:
    await fill(audit, 4)
    row = (await audit.page(after=1, limit=1))[0]
    forged = replace(row, action="user.unblock")
    forged = replace(forged, hash=entry_hash(forged))
    await sql(
        engine,
        "UPDATE audit_log SET action = :a, hash = :h WHERE id = 2",
        a=forged.action,
        h=forged.hash,
    )
    report = await audit.verify()
    assert (report.ok, report.first_bad_id, report.problem) == (False, 3, "altered")


async def test_concurrent_appends_from_two_engines_keep_one_chain(
    database_url: str, clock: FakeClock
) -> None:
    engines = [create_engine(database_url), create_engine(database_url)]
    try:
        logs = [AuditLog(AuditRepository(engine), clock) for engine in engines]
        # Enough writers at once to fork an unlocked chain, few enough that on a busy machine
        # none of them waits past SQLite's 5 s busy timeout.
        count = 16
        await asyncio.gather(
            *(logs[n % 2].record(ADMIN, "provider.update", f"provider:p{n}") for n in range(count))
        )
        report = await logs[0].verify()
        assert (report.ok, report.checked) == (True, count)
        rows = [row async for row in logs[1].rows()]
        assert sorted(row.target for row in rows) == sorted(f"provider:p{n}" for n in range(count))
        assert [row.id for row in rows] == list(range(1, count + 1))
    finally:
        for engine in engines:
            await engine.dispose()


async def test_secrets_are_masked_before_they_are_stored(
    engine: AsyncEngine, audit: AuditLog
) -> None:
    await audit.record(
        ADMIN,
        "provider.update",
        "provider:dev",
        before={"client_id": "chat-spa", "client_secret": "hunter2-before"},
        after={"client_id": "chat-spa", "client_secret": "hunter2-after", "key_count": 2},
        reason="rotate",
    )
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT * FROM audit_log"))).one()
    assert not any("hunter2" in str(value) for value in stored)
    details = json.loads(stored.details)
    assert details["before"] == {"client_id": "chat-spa", "client_secret": "***"}
    assert details["after"]["client_secret"] == "***"
    assert details["after"]["key_count"] == 2
    assert details["reason"] == "rotate"
    assert details["actor_issuer"] == ADMIN.issuer
    assert (await audit.verify()).ok


async def test_stored_details_are_canonical_json(engine: AsyncEngine, audit: AuditLog) -> None:
    stored = await audit.record(ADMIN, "user.block", "user:42", after={"z": 1.0, "a": [True]})
    assert stored.details == (
        '{"actor_issuer":"http://127.0.0.1:9400","after":{"a":[true],"z":1},"before":null}'
    )
    assert stored.actor_provider == "dev"
    assert stored.created_at == datetime(2026, 12, 8, 10, 0, 0, 123456, tzinfo=UTC)
    assert (await audit.page())[0] == stored  # as read back: same timestamp, same text


async def test_a_refused_entry_takes_no_id(audit: AuditLog) -> None:
    await fill(audit, 1)
    with pytest.raises(AuditEntryRefusedError):
        await audit.record(ADMIN, "user.block", "user:" + "9" * 300)
    with pytest.raises(NotCanonicalError):
        await audit.record(ADMIN, "user.block", "user:\ud800")
    with pytest.raises(NotCanonicalError):
        await audit.record(ADMIN, "user.block", "user:2", after={"ratio": float("nan")})
    stored = await audit.record(ADMIN, "user.block", "user:2")
    assert stored.id == 2
    assert (await audit.verify()).ok


async def test_page_filters_and_pages(audit: AuditLog, clock: FakeClock) -> None:
    start = datetime.fromtimestamp(clock.now(), UTC)
    await audit.record(ADMIN, "user.block", "user:1")
    clock.advance(60)
    await audit.record(SYSTEM, "logout.backchannel", "user:1")
    clock.advance(60)
    await audit.record(ADMIN, "user.block", "user:2")
    assert [r.id for r in await audit.page(action="user.block")] == [1, 3]
    assert [r.id for r in await audit.page(actor_subject="alice")] == [1, 3]
    assert [r.id for r in await audit.page(after=1, limit=1)] == [2]
    minute = timedelta(seconds=60)
    assert [r.id for r in await audit.page(since=start + minute)] == [2, 3]
    assert [r.id for r in await audit.page(until=start + minute)] == [1]
    assert [r.id for r in await audit.page(since=start, until=start + 2 * minute)] == [1, 2]
    system = (await audit.page(action="logout.backchannel"))[0]
    assert (system.actor_subject, system.actor_name) == (None, "system")


async def test_rows_are_read_in_batches(engine: AsyncEngine, clock: FakeClock) -> None:
    audit = AuditLog(AuditRepository(engine, batch_size=2), clock)
    await fill(audit, 5)
    assert [row.id async for row in audit.rows()] == [1, 2, 3, 4, 5]
    assert (await audit.verify()).checked == 5


async def test_publish_head_logs_one_line(
    audit: AuditLog, caplog: pytest.LogCaptureFixture
) -> None:
    await fill(audit, 2)
    caplog.set_level(logging.INFO, logger="server.audit")
    head = await audit.publish_head()
    assert head is not None
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("audit head")]
    assert lines == [f"audit head #2 {head.hash}"]


def test_a_head_string_parses_and_prints_back() -> None:
    head = parse_head(f"12:{'Ab' * 32}")
    assert head == ChainHead(12, "ab" * 32)
    assert str(head) == f"12:{'ab' * 32}"


@pytest.mark.parametrize(
    "value", ["", "12", "12:abc", "0:" + "a" * 64, "x:" + "a" * 64, "1:" + "g" * 64]
)
def test_a_bad_head_string_is_invalid_request(value: str) -> None:
    with pytest.raises(InvalidHeadError) as caught:
        parse_head(value)
    assert caught.value.code == "invalid_request"
