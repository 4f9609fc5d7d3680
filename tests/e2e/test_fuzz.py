"""Property-based fuzzing of the Socket.IO / Engine.IO surface of one real server.

Hypothesis generates raw frames (every Engine.IO and Socket.IO packet type, namespaces, ack ids,
JSON of any shape and depth, binary frames and attachments, oversized and truncated frames, events
before and after the connect) and event payloads for every real event. After each example: no
ERROR record and no traceback in the log, no row but those of valid ``send_message``s, ``/healthz``
answers 200, and an honest user (a real python-socketio client) still sends and receives.

Bounded and derandomized: the same examples on every run. ``HYPOTHESIS_PROFILE=explore`` (ignored
when ``CI`` is set) draws ten times as many, at random, for a developer who wants to look further.
"""

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, note, settings

from devidp.process import DevIdp
from devidp.signin import sign_in
from tests.e2e.conftest import PASSWORDS
from tests.support.clients import connected
from tests.support.databases import migrated_database
from tests.support.frames import RECORD_SEPARATOR, RawPolling, RawSocket
from tests.support.fuzzing import (
    Connect,
    Ledger,
    LogWatch,
    Player,
    Script,
    Step,
    short,
    stored_rows,
)
from tests.support.live import LiveServer, dev_provider, make_settings
from tests.support.strategies import (
    ALICE,
    BOB,
    POLLING_BODIES,
    EventDraft,
    event_scripts,
    scripts,
)

EXPLORE = os.environ.get("HYPOTHESIS_PROFILE") == "explore" and not os.environ.get("CI")
# Message rate limits are tested elsewhere; here they would only refuse the honest user's probes.
GENEROUS_MESSAGE_LIMITS = {
    "messages_per_second": 1000,
    "message_burst": 10_000,
    "user_messages_per_second": 10_000,
    "user_message_burst": 100_000,
}


def bounded(examples: int) -> settings:
    return settings(
        max_examples=examples * 10 if EXPLORE else examples,
        derandomize=not EXPLORE,
        database=None,
        deadline=None,
        # no "explain" phase: against a live server it costs minutes and tells little
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        # One server for all examples, on purpose; large frames are slow to generate, on purpose.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


@dataclass(frozen=True)
class FuzzServer:
    live: LiveServer
    database: Path
    ledger: Ledger  # every message acked so far, by any test of this module
    log: LogWatch
    player: Player  # alice, the fuzzing user


@pytest.fixture(scope="module")
def fuzz_server(devidp: DevIdp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    tokens = {user: sign_in(devidp.issuer, user, PASSWORDS[user]) for user in ("alice", "bob")}
    secrets = {
        placeholder: getattr(tokens[user], field)
        for user, auth in (("alice", ALICE), ("bob", BOB))
        for field, placeholder in auth.items()
    }
    ledger = Ledger()
    player = Player(ledger, "u-alice-0001", ALICE, secrets)
    with migrated_database("sqlite", tmp_path_factory.mktemp("fuzz")) as url:
        settings = make_settings(
            database_url=url,
            providers=[dev_provider(devidp.issuer)],
            sessions=GENEROUS_MESSAGE_LIMITS,
            websocket_only=False,  # the long-polling transport is fuzzed too
        )
        with LiveServer(settings) as live, LogWatch().watching() as log:
            database = Path(url.removeprefix("sqlite+aiosqlite:///"))
            yield FuzzServer(live, database, ledger, log, player)


@dataclass
class Fuzz:
    """One test's view of the fuzzed server: its clients and the invariants."""

    server: FuzzServer
    http: httpx.AsyncClient
    ws: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return self.server.live.url

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis prints fixtures too
        printer.text(f"Fuzz({self.url})")

    async def check(self) -> None:
        await self._honest_user_is_served()
        assert (await self.http.get("/healthz")).status_code == 200
        self.server.ledger.check(stored_rows(self.server.database))
        logged = self.server.log.take()
        assert not logged, f"the server logged an error or a traceback: {logged}"

    async def _honest_user_is_served(self) -> None:
        """Bob, with a real python-socketio client, connects, joins, sends and receives."""
        bob = await connected(self.url, self.server.player.render_auth(BOB))
        try:
            assert (await bob.call("join", {"room": "general"}))["ok"]
            ack = await bob.call("send_message", {"room": "general", "text": "honest probe"})
            assert ack["ok"], ack
            self.server.ledger.record(ack["message"])
            for _ in range(500):
                if any(m["id"] == ack["message"]["id"] for m in bob.posted):
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("the honest user did not receive their own message")
        finally:
            await bob.close()


@pytest.fixture
async def fuzz(fuzz_server: FuzzServer) -> AsyncIterator[Fuzz]:
    async with (
        httpx.AsyncClient(base_url=fuzz_server.live.url, timeout=10) as http,
        aiohttp.ClientSession() as ws,
    ):
        yield Fuzz(fuzz_server, http, ws)
    assert fuzz_server.log.take() == []


def _noted(script: Script) -> Script:
    for step in [*script.before, *script.after]:
        note(f"frame: {short(step.frame, 1000)}")
    return script


KNOWN_FRAMES = [  # from tests/e2e/test_bad_input.py and issue 8
    '42["send_message",' + "[" * 5000 + "]" * 5000 + "]",
    "451-" + '["send_message",{"_placeholder":true,"num":0}]',
    "45999999999-" + '["send_message",{"room":"general","text":"x"}]',
    "42[",
    "4" + "9" * 50,
    "\x00\x01\x02",
]
ATTACHMENT_HEADER = '451-["send_message",{"room":"general","text":{"_placeholder":true,"num":0}}]'
LIST_ROOMS = EventDraft("list_rooms", ()).step(1)


@bounded(200)
@given(script=scripts())
@example(script=Script([], Connect(), [Step(frame) for frame in KNOWN_FRAMES]))
@example(script=Script([Step('420["send_message",{"room":"general","text":"early"}]')], None, []))
@example(script=Script([Step("1")], Connect(), []))  # a connect after the Engine.IO close
@example(script=Script([], Connect(), [Step(ATTACHMENT_HEADER), Step('42["list_rooms"]')]))
async def test_raw_websocket_frames_break_nothing(fuzz: Fuzz, script: Script) -> None:
    async with RawSocket.open(fuzz.ws, fuzz.url) as socket:
        await fuzz.server.player.play(socket, _noted(script))
    await fuzz.check()


@bounded(100)
@given(script=event_scripts())
@example(script=Script([], Connect(), [EventDraft("refresh_token", (BOB,)).step(0)]))
async def test_generated_event_payloads_are_answered_and_break_nothing(
    fuzz: Fuzz, script: Script
) -> None:
    async with RawSocket.open(fuzz.ws, fuzz.url) as socket:
        await fuzz.server.player.play(socket, _noted(script))
    await fuzz.check()


@bounded(100)
@given(script=scripts(POLLING_BODIES))
@example(script=Script([], Connect(), [Step("0"), LIST_ROOMS]))  # a client-sent OPEN packet
@example(script=Script([], Connect(), [Step(RECORD_SEPARATOR.join(["6"] * 17)), Step(b"\xa1")]))
async def test_raw_long_polling_bodies_break_nothing(fuzz: Fuzz, script: Script) -> None:
    async with RawPolling.open(fuzz.url) as polling:
        await fuzz.server.player.play(polling, _noted(script))
        assert all(status < 500 for status in polling.statuses), polling.statuses
    await fuzz.check()
