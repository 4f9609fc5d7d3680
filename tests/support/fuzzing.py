"""What a protocol fuzz test needs around its frames: scripts to play, and the invariants to check.

A ``Script`` is frames before the Socket.IO connect, the connect, and frames after it. ``play``
sends it over any ``Transport`` and records in a ``Ledger`` the messages the server acked; the
checks then compare the ledger with the rows in the database and look for tracebacks in the log.
"""

import json
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.frames import Frame, Transport, ack_of, sio

ACK_TIMEOUT_SECONDS = 5.0
BEST_EFFORT_SECONDS = 0.5
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_event_codes() -> frozenset[str]:
    """The codes of the README's "Event error codes" table: what an ack may carry."""
    table = README.read_text(encoding="utf-8").split("Event error codes:", 1)[1].split("\n\n")[1]
    codes = re.findall(r"^\| (`[^|]+`) \|", table, flags=re.MULTILINE)
    return frozenset(c for cell in codes for c in re.findall(r"`([a-z_]+)`", cell))


ERROR_CODES = readme_event_codes()
DROPPED_EVENTS = {"connect", "disconnect"}  # dropped by the server: acked with no arguments


@dataclass(frozen=True, slots=True, repr=False)
class Step:
    """One frame. ``ack``: a well-formed event the server must answer with that ack id."""

    frame: Frame
    benign: bool = False  # a well-formed frame no server should close the connection for
    ack: int | None = None
    event: object = None
    payload: object = None  # the single argument of a well-formed event

    def __repr__(self) -> str:  # frames of 64 KiB would make Hypothesis' reports unreadable
        return f"Step({short(self.frame)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # what Hypothesis prints
        printer.text(repr(self))


@dataclass(frozen=True, slots=True, repr=False)
class Connect:
    """The Socket.IO CONNECT packet: ``auth`` None means the user's real tokens."""

    namespace: str = ""
    auth: object = None
    tail: str = ""  # anything after the JSON

    def __repr__(self) -> str:
        auth = "<the user's tokens>" if self.auth is None else short(repr(self.auth))
        return f"Connect(namespace={self.namespace!r}, auth={auth}, tail={short(self.tail)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


@dataclass(frozen=True, slots=True)
class Script:
    before: list[Step]
    connect: Connect | None
    after: list[Step]


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    room: str
    text: str
    subject: str
    client_id: str | None


@dataclass
class Ledger:
    """The messages acked ok by the server, and the sends whose ack was never seen.

    ``check`` looks only at what is new since the last check, so that one bad row fails the
    example that wrote it and not every example after it.
    """

    acked: dict[int, Row] = field(default_factory=dict)
    unanswered: set[tuple[str, str, str, str | None]] = field(default_factory=set)
    _fresh: set[int] = field(default_factory=set)
    _checked_up_to: int = 0

    def record(self, message: dict[str, Any]) -> None:
        """Note a message ``M`` from an ok ``send_message`` ack."""
        sender = message["sender"]["subject"]
        row = Row(message["id"], message["room"], message["text"], sender, message["client_id"])
        assert self.acked.setdefault(row.id, row) == row, (row, self.acked[row.id])
        self._fresh.add(row.id)

    def unanswered_send(self, payload: object, subject: str) -> None:
        """A well-formed ``send_message`` that may have been stored although its ack was lost."""
        if not isinstance(payload, dict):
            return
        room, text, client_id = payload.get("room"), payload.get("text"), payload.get("client_id")
        if isinstance(room, str) and isinstance(text, str):
            key = (room, text, subject, client_id if isinstance(client_id, str) else None)
            self.unanswered.add(key)

    def check(self, rows: list[Row]) -> None:
        """Each new row was acked ok (or is a well-formed send whose ack was lost); each new ok
        ack has its row."""
        new = [row for row in rows if row.id > self._checked_up_to]
        fresh, self._fresh = self._fresh, set()
        self._checked_up_to = max([self._checked_up_to, *(row.id for row in new)])
        for row in new:
            if row.id in self.acked:
                assert row == self.acked[row.id], (row, self.acked[row.id])
            else:
                key = (row.room, row.text, row.subject, row.client_id)
                assert key in self.unanswered, f"{row} was stored by no valid send_message"
        missing = fresh - {row.id for row in rows}
        assert not missing, f"acked messages {sorted(missing)} are not in the database"


def stored_rows(database: Path) -> list[Row]:
    query = (
        "SELECT m.id, r.slug, m.text, m.sender_subject, m.client_id"
        " FROM messages m JOIN rooms r ON r.id = m.room_id ORDER BY m.id"
    )
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return [Row(*values) for values in db.execute(query)]


class LogWatch(logging.Handler):
    """Collects every record at ERROR or above, and every record that carries a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._guard = threading.Lock()  # the server logs from its own thread
        self._bad: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            kind = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
            with self._guard:
                self._bad.append(f"{record.levelname} {record.name}: {record.getMessage()} {kind}")

    def take(self) -> list[str]:
        with self._guard:
            bad, self._bad = self._bad, []
        return bad

    @contextmanager
    def watching(self, *, info_from: str = "server") -> Iterator["LogWatch"]:
        """Attached to the root logger and to every logger that does not propagate to it (uvicorn's);
        ``info_from`` logs at INFO, as in production, so an info record with a traceback shows too.
        """
        loggers = [logging.getLogger()] + [
            logger
            for logger in logging.Logger.manager.loggerDict.values()
            if isinstance(logger, logging.Logger) and not logger.propagate
        ]
        ours = logging.getLogger(info_from)
        level = ours.level
        ours.setLevel(logging.INFO)
        for logger in loggers:
            logger.addHandler(self)
        try:
            yield self
        finally:
            for logger in loggers:
                logger.removeHandler(self)
            ours.setLevel(level)


@dataclass
class Player:
    """Plays scripts as one user over any transport; the user's real tokens replace placeholders."""

    ledger: Ledger
    subject: str
    auth: dict[str, str]  # placeholders, as the strategies use them
    secrets: dict[str, str] = field(repr=False)  # placeholder -> token: reports show no token

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis ignores repr=False
        printer.text(f"Player(subject={self.subject!r})")

    def render_auth(self, auth: dict[str, str]) -> dict[str, str]:
        """``auth`` (placeholders) with the real tokens."""
        return {key: self.secrets.get(value, value) for key, value in auth.items()}

    def render(self, frame: Frame) -> Frame:
        if isinstance(frame, str):
            for placeholder, secret in self.secrets.items():
                frame = frame.replace(placeholder, secret)
        return frame

    async def play(self, transport: Transport, script: Script) -> None:
        """Send ``script``; acks of well-formed events are checked, others are not trusted."""
        for step in script.before:  # nothing before the connect may be answered or stored
            await transport.send(self.render(step.frame))
        clean = all(step.benign for step in script.before)
        connected = script.connect is not None and await self._connect(
            transport, script.connect, must=clean
        )
        for step in script.after:
            await transport.send(self.render(step.frame))
            if connected:
                connected = await self._answered(transport, step, must=clean)
            clean = clean and step.benign
        await transport.settle(lambda: False, 0.05)  # let trailing frames do their worst

    async def _connect(self, transport: Transport, connect: Connect, must: bool) -> bool:
        data = self.auth if connect.auth is None else connect.auth
        packet = sio("0", json.dumps(data) + connect.tail, namespace=connect.namespace)
        await transport.send(self.render(packet))
        expected = connect.auth is None and connect.namespace in {"", "/"} and not connect.tail
        await transport.settle(
            lambda: _connect_reply(transport.received) is not None,
            ACK_TIMEOUT_SECONDS if expected and must else BEST_EFFORT_SECONDS,
        )
        reply = _connect_reply(transport.received)
        if expected and must:
            assert reply is not None, "no answer to the connect"
            assert reply.startswith("40{"), f"connect refused: {reply!r}"
        return reply is not None and reply.startswith("40{")

    async def _answered(self, transport: Transport, step: Step, must: bool) -> bool:
        """Wait for ``step``'s ack; ``False`` once the session is over (ended, closed)."""
        ack_id = step.ack
        if ack_id is not None:
            await transport.settle(
                lambda: _ack(transport.received, ack_id) is not None or _ended(transport),
                ACK_TIMEOUT_SECONDS if must else BEST_EFFORT_SECONDS,
            )
        arguments = None if ack_id is None else _ack(transport.received, ack_id)
        if arguments is None:
            assert ack_id is None or not must or _ended(transport), f"no ack: {short(step.frame)}"
            if step.event == "send_message":  # stored or not, we cannot tell from here
                self.ledger.unanswered_send(step.payload, self.subject)
            return not _ended(transport)
        self._check_ack(step, arguments)
        return not _ended(transport)

    def _check_ack(self, step: Step, arguments: object) -> None:
        if arguments == [] and step.event in DROPPED_EVENTS:
            return
        assert isinstance(arguments, list), arguments
        assert len(arguments) == 1, arguments
        (answer,) = arguments
        assert isinstance(answer, dict), answer
        assert isinstance(answer.get("ok"), bool), answer
        if not answer["ok"]:
            assert answer["error"]["code"] in ERROR_CODES, f"not a documented code: {answer}"
            assert isinstance(answer["error"]["message"], str), answer
        elif step.event == "send_message":
            assert answer["message"]["sender"]["subject"] == self.subject, answer
            self.ledger.record(answer["message"])


def _connect_reply(received: list[Frame]) -> str | None:
    for frame in received:
        if isinstance(frame, str) and frame.startswith(("40", "44")):
            return frame
    return None


def _ack(received: list[Frame], ack_id: int) -> object | None:
    for frame in received:
        parsed = ack_of(frame)
        if parsed is not None and parsed[0] == ack_id:
            return parsed[1]
    return None


def _ended(transport: Transport) -> bool:
    return transport.closed or any(
        isinstance(f, str) and (f.startswith('42["session_ended"') or f.startswith("41"))
        for f in transport.received
    )


def short(frame: Frame, limit: int = 120) -> str:
    """``frame``'s repr, cut to ``limit`` characters with its length when longer."""
    text = repr(frame)
    return text if len(text) <= limit else f"{text[:limit]}...<{len(frame)} long>"
