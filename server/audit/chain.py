"""The hash chain: each row's hash covers its content and the previous row's hash.

Ids come from an autoincrement that never hands out an id again (a PostgreSQL sequence; SQLite
``AUTOINCREMENT``), so they only grow, one by one: a gap in ids means rows were removed, even
where the link around it holds (the newest rows deleted, then more appended). An append that
fails is refused before it takes an id. The newest rows have no successor to betray their
removal: a head ``(id, hash)`` published elsewhere (``AuditLog.publish_head``) catches that.
"""

import hashlib
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Literal, NamedTuple

from server.audit.canonical import canonical_bytes
from server.audit.errors import InvalidHeadError
from server.storage import GENESIS_HASH, AuditRecord

Problem = Literal["altered", "removed", "reordered", "truncated"]
_HEAD = re.compile(r"([1-9][0-9]{0,18}):([0-9a-f]{64})")


class ChainHead(NamedTuple):
    """The newest row of the chain as published: its id and hash."""

    id: int
    hash: str

    def __str__(self) -> str:
        return f"{self.id}:{self.hash}"


def parse_head(value: str) -> ChainHead:
    """``"12:<64 hex digits>"`` as a ``ChainHead``.

    Raises:
        InvalidHeadError: (invalid_request) anything else.
    """
    match = _HEAD.fullmatch(value.strip().lower())
    if match is None:
        raise InvalidHeadError("head is not ID:HASH")
    return ChainHead(int(match.group(1)), match.group(2))


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What ``verify`` found: ``checked`` rows linked intact, the last of them ``head``, and
    the first row found bad (with what is wrong) unless ``ok``."""

    ok: bool
    checked: int
    head: ChainHead | None
    first_bad_id: int | None = None
    problem: Problem | None = None


def entry_hash(record: AuditRecord) -> str:
    """The sha256 (hex) of the RFC 8785 form of the row's content, id and ``prev_hash``."""
    content = {
        "id": record.id,
        "created_at": record.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_provider": record.actor_provider,
        "actor_subject": record.actor_subject,
        "actor_name": record.actor_name,
        "action": record.action,
        "target": record.target,
        "details": record.details,
        "prev_hash": record.prev_hash,
    }
    return hashlib.sha256(canonical_bytes(content)).hexdigest()


class _Walk:
    """The state of one verification, fed one row at a time in the order they were read."""

    def __init__(self, head: ChainHead | None) -> None:
        self.checked = 0
        self.last: ChainHead | None = None
        self._published = head

    def problem(self, row: AuditRecord, upcoming: AuditRecord | None) -> Problem | None:
        """What is wrong with ``row``, read after the rows so far and before ``upcoming``."""
        previous_id, previous_hash = self.last or (0, GENESIS_HASH)
        if row.id <= previous_id:
            return "reordered"
        if row.id > previous_id + 1:
            # The missing id may just come later: then the rows were reordered, not removed.
            late = upcoming is not None and previous_id < upcoming.id < row.id
            return "reordered" if late else "removed"
        if entry_hash(row) != row.hash or row.prev_hash != previous_hash:
            return "altered"
        if self._published is not None and row.id == self._published.id:
            if row.hash != self._published.hash:
                return "altered"  # rewritten, and every later row relinked to it
        self.checked += 1
        self.last = ChainHead(row.id, row.hash)
        return None

    def report(self, bad: AuditRecord | None, problem: Problem | None) -> ChainReport:
        if bad is not None:
            return ChainReport(False, self.checked, self.last, bad.id, problem)
        if self._published is not None and (self.last is None or self.last.id < self._published.id):
            return ChainReport(False, self.checked, self.last, self._published.id, "truncated")
        return ChainReport(True, self.checked, self.last)


async def verify(
    rows: Iterable[AuditRecord] | AsyncIterable[AuditRecord], head: ChainHead | None = None
) -> ChainReport:
    """Check every link of ``rows`` (in the order given, meant to be id order), stopping at the
    first bad row; with a published ``head``, also that the chain still reaches it.

    Problems: "altered" (a row's content or link changed), "removed" (an id gap: the row after
    it is reported), "reordered" (a lower id after a higher one: the first row out of place is
    reported), "truncated" (the rows end before the published head; ``first_bad_id`` is the
    head's id).
    """
    walk = _Walk(head)
    async for row, upcoming in _with_next(rows):
        problem = walk.problem(row, upcoming)
        if problem is not None:
            return walk.report(row, problem)
    return walk.report(None, None)


async def _with_next(
    rows: Iterable[AuditRecord] | AsyncIterable[AuditRecord],
) -> AsyncIterator[tuple[AuditRecord, AuditRecord | None]]:
    """Each row with the one after it (None for the last): a one-row look-ahead."""
    previous: AuditRecord | None = None
    async for row in _each(rows):
        if previous is not None:
            yield previous, row
        previous = row
    if previous is not None:
        yield previous, None


async def _each(
    rows: Iterable[AuditRecord] | AsyncIterable[AuditRecord],
) -> AsyncIterator[AuditRecord]:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row
