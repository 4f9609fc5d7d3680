"""The wire below the events, tried as an attacker would: raw frames, abandoned transports, floods."""

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devidp.process import DevIdp
from tests.e2e.conftest import Accounts
from tests.support.clients import connected
from tests.support.live import LiveServer, dev_provider, make_settings
from tests.support.wire import Polling, is_closed, raw_socket


def live_server(devidp: DevIdp, url: str, **server: Any) -> LiveServer:
    sessions = server.pop("sessions", None)
    settings = make_settings(
        database_url=url, providers=[dev_provider(devidp.issuer)], sessions=sessions, **server
    )
    return LiveServer(settings)


async def closed_within(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> bool:
    """Whether the server closes ``ws`` within ``seconds`` (frames it sends meanwhile are skipped)."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                if is_closed(await ws.receive()):
                    return True
    except TimeoutError:
        return False


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def problems_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info is not None
    ]


async def honest_user_is_served(url: str, accounts: Accounts, text: str) -> None:
    client = await connected(url, accounts.auth("alice"))
    try:
        ack = await client.call("send_message", {"room": "general", "text": text})
    finally:
        await client.close()
    assert ack["ok"], ack


# -- 1. the half-open reaper survives an abandoned long-polling session ----------------------------


async def test_an_abandoned_polling_session_does_not_stop_the_reaper(
    devidp: DevIdp, sqlite_url: str
) -> None:
    with live_server(devidp, sqlite_url, connect_timeout_seconds=0.5, websocket_only=False) as live:
        abandoned = Polling(live.url)
        try:
            assert (await abandoned.open()).status_code == 200  # then never polls again
            await asyncio.sleep(1.2)  # the reaper closes it
            async with raw_socket(live.url) as half_open:  # handshake done, never sends "40"
                assert await closed_within(half_open, 3.0)
            async with raw_socket(live.url) as another:
                assert await closed_within(another, 3.0)
        finally:
            await abandoned.close()


# -- 2. binary data is refused at the packet layer -----------------------------------------------


async def test_a_binary_attachment_header_closes_the_transport_and_buffers_nothing(
    server: LiveServer, accounts: Accounts, caplog: pytest.LogCaptureFixture
) -> None:
    chunk = b"\x00" * 60_000
    before = rss_bytes()
    async with raw_socket(server.url, accounts.auth("alice")) as ws:
        await ws.send_str('451000000-["send_message",{"_placeholder":true,"num":0}]')
        try:
            for _ in range(700):  # 42 MB that python-socketio would otherwise keep
                await ws.send_bytes(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the server has closed the connection
        assert await closed_within(ws, 5.0)
    grown = rss_bytes() - before
    assert grown < 15 * 1024 * 1024, f"server memory grew by {grown / 2**20:.0f} MiB"
    assert problems_logged(caplog) == []
    await honest_user_is_served(server.url, accounts, "after the binary flood")


@pytest.mark.parametrize(
    "frame",
    [
        b'42["send_message",{"room":"general","text":"binary"}]',
        b"\x00\x01\x02",
        "\x00\x01\x02",
        '451-["send_message",{"_placeholder":true,"num":0}]',
        '461-[{"_placeholder":true,"num":0}]',
        '422-["send_message",{"room":"general","text":"declares attachments"}]',
        "44{}",
        "47",
        "4x",
        "42{}",
        "42[]",
        '42"send_message"',
        "43",
        '42["send_message",' + "[" * 5000 + "]" * 5000 + "]",
        "4" + "[" * 5000 + "]" * 5000,  # Engine.IO itself would decode this payload
        "2" + "[" * 5000 + "]" * 5000,
        "4{}",
        "0",
        "9",
        "",
    ],
)
async def test_a_frame_outside_the_protocol_closes_the_transport_without_a_traceback(
    server: LiveServer, accounts: Accounts, caplog: pytest.LogCaptureFixture, frame: str | bytes
) -> None:
    async with raw_socket(server.url, accounts.auth("alice")) as ws:
        if isinstance(frame, bytes):
            await ws.send_bytes(frame)
        else:
            await ws.send_str(frame)
        assert await closed_within(ws, 5.0)
    assert problems_logged(caplog) == []
    client = await connected(server.url, accounts.auth("bob"))
    try:
        history = await client.call("fetch_history", {"room": "general"})
    finally:
        await client.close()
    assert history["messages"] == []  # nothing was stored by any of them


# -- 4. every event pays the event budget, and floods of any frame close the connection -----------


async def test_unknown_events_and_extra_arguments_are_charged_to_the_event_budget(
    devidp: DevIdp, sqlite_url: str, accounts: Accounts
) -> None:
    sessions = {"events_per_second": 0.001, "event_burst": 3}
    with live_server(devidp, sqlite_url, sessions=sessions) as live:
        async with raw_socket(live.url, accounts.auth("alice")) as ws:
            await ws.send_str('420["no_such_event",{}]')
            await ws.send_str('421["send_message",{"room":"general","text":"a"},"extra"]')
            await ws.send_str("422[42]")
            await ws.send_str('423["list_rooms"]')
            acks = {}
            for _ in range(4):
                frame = (await ws.receive(timeout=5)).data
                acks[frame[2]] = json.loads(frame[3:])[0]["error"]["code"]
    assert acks == {
        "0": "unknown_event",
        "1": "invalid_request",
        "2": "unknown_event",
        "3": "rate_limited",  # the budget was spent by the junk before it
    }


@pytest.mark.parametrize("junk", ["3", "43999[]", '42["list_rooms"]', "41/nowhere,"])
async def test_a_flood_of_frames_closes_the_connection(
    devidp: DevIdp, sqlite_url: str, accounts: Accounts, junk: str
) -> None:
    sessions = {"events_per_second": 1, "event_burst": 5}
    with live_server(
        devidp, sqlite_url, sessions=sessions, frames_per_second=5, frame_burst=20
    ) as live:
        async with raw_socket(live.url, accounts.auth("alice")) as ws:
            try:
                for _ in range(200):
                    await ws.send_str(junk)
            except (ConnectionError, RuntimeError):
                pass
            assert await closed_within(ws, 5.0)
        await honest_user_is_served(live.url, accounts, "after the flood")


# -- 3. a long-polling sid is not a bearer credential ---------------------------------------------

ORIGIN = "http://127.0.0.1:8000"
OTHER_ORIGIN = "http://localhost:8000"


@pytest.fixture
def polling_server(devidp: DevIdp, sqlite_url: str) -> Iterator[LiveServer]:
    with live_server(
        devidp, sqlite_url, websocket_only=False, allowed_origins=[ORIGIN, OTHER_ORIGIN]
    ) as live:
        yield live


async def connected_polling(url: str, auth: object) -> Polling:
    victim = Polling(url, headers={"Origin": ORIGIN})
    assert (await victim.open()).status_code == 200
    await victim.post("40" + json.dumps(auth))
    assert (await victim.get()).text.startswith("40")
    return victim


async def test_a_leaked_polling_sid_cannot_speak_for_its_owner(
    polling_server: LiveServer, accounts: Accounts
) -> None:
    victim = await connected_polling(polling_server.url, accounts.auth("bob"))
    attacker = Polling(polling_server.url, headers={"Origin": ORIGIN})
    attacker.sid = victim.sid  # read from a proxy log
    try:
        forged = '42["send_message",{"room":"general","text":"forged"}]'
        posted = await attacker.http.post(attacker.path, content=forged)
        polled = await attacker.get()
        async with aiohttp.ClientSession() as session:
            ws_url = polling_server.url.replace("http", "ws") + victim.path.replace(
                "transport=polling", "transport=websocket"
            )
            with pytest.raises(aiohttp.WSServerHandshakeError) as upgrade:
                await session.ws_connect(ws_url, headers={"Origin": ORIGIN})
        await victim.post('421["send_message",{"room":"general","text":"mine"}]')
        ack = (await victim.get()).text
    finally:
        await attacker.close()
        await victim.close()
    assert posted.status_code == 403
    assert posted.json()["error"]["code"] == "forbidden"
    assert polled.status_code == 403
    assert upgrade.value.status == 403
    assert ack.startswith("431")
    assert json.loads(ack[3:])[0]["ok"] is True
    observer = await connected(polling_server.url, accounts.auth("alice"))
    try:
        history = await observer.call("fetch_history", {"room": "general"})
    finally:
        await observer.close()
    assert [m["text"] for m in history["messages"]] == ["mine"]


async def test_a_polling_session_refuses_its_cookie_from_another_origin(
    polling_server: LiveServer, accounts: Accounts
) -> None:
    victim = await connected_polling(polling_server.url, accounts.auth("bob"))
    try:
        other = await victim.http.post(
            victim.path,
            content='42["send_message",{"room":"general","text":"x"}]',
            headers={"Origin": OTHER_ORIGIN},
        )
        same = await victim.http.post(victim.path, content="3", headers={"Origin": ORIGIN})
    finally:
        await victim.close()
    assert other.status_code == 403
    assert same.status_code == 200


async def test_the_polling_cookie_is_httponly_samesite_strict_and_secure_on_https(
    polling_server: LiveServer,
) -> None:
    plain = Polling(polling_server.url)
    tls = Polling(polling_server.url, headers={"X-Forwarded-Proto": "https"})
    try:
        cookie = (await plain.open()).headers["set-cookie"]
        tls_cookie = (await tls.open()).headers["set-cookie"]
    finally:
        await plain.close()
        await tls.close()
    attributes = {part.strip().split("=")[0] for part in cookie.split(";")}
    assert {"HttpOnly", "SameSite", "Path"} <= attributes
    assert "SameSite=Strict" in cookie
    assert "Secure" not in attributes
    assert "Secure" in {part.strip() for part in tls_cookie.split(";")}


async def test_jsonp_polling_is_refused(polling_server: LiveServer) -> None:
    polling = Polling(polling_server.url)
    try:
        response = await polling.http.get("/socket.io/?EIO=4&transport=polling&j=0")
    finally:
        await polling.close()
    assert response.status_code == 403


# -- stuck clients: one that stops reading is cut off, its queue bounded --------------------------

LIFTED = {
    "messages_per_second": 1000,
    "message_burst": 10_000,
    "user_messages_per_second": 1000,
    "user_message_burst": 10_000,
    "events_per_second": 1000,
    "event_burst": 10_000,
}


async def test_a_client_that_stops_reading_is_cut_off_with_a_bounded_queue(
    devidp: DevIdp, sqlite_url: str, accounts: Accounts
) -> None:
    sent = 1500
    with live_server(
        devidp,
        sqlite_url,
        sessions=LIFTED,
        max_queued_packets=50,
        frames_per_second=10_000,
        frame_burst=10_000,
    ) as live:
        async with raw_socket(live.url, accounts.auth("bob")) as stuck:
            await stuck.send_str('420["join",{"room":"general"}]')
            assert (await stuck.receive(timeout=5)).data.startswith("430")
            sender = await connected(live.url, accounts.auth("alice"))
            try:
                for n in range(sent):  # bob reads none of it: his buffers fill, then his queue
                    ack = await sender.call("send_message", {"room": "general", "text": "x" * 4000})
                    assert ack["ok"], (n, ack)
            finally:
                await sender.close()
            received = 0
            async with asyncio.timeout(30):
                while not is_closed(message := await stuck.receive()):
                    received += str(message.data).startswith('42["message_posted"')
    assert received < sent


@pytest.mark.parametrize(
    "body",
    [
        "9",
        "\x00\x01",
        "4" + "[" * 5000,
        "2" + "[" * 5000,
        "bAAAA",
        "0",
        "6",
        "2probe",
        "45-[]",
        "",
        b'42["send_message",{"room":"general","text":"\xff"}]',
    ],
)
async def test_a_polling_post_outside_the_protocol_is_refused_and_ends_its_session(
    polling_server: LiveServer,
    accounts: Accounts,
    caplog: pytest.LogCaptureFixture,
    body: str | bytes,
) -> None:
    polling = await connected_polling(polling_server.url, accounts.auth("bob"))
    try:
        response = await polling.http.post(polling.path, content=body)
        await asyncio.sleep(0.2)
        after = await polling.get()
    finally:
        await polling.close()
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert after.status_code == 400  # the session is gone: it no longer counts for bob
    assert problems_logged(caplog) == []
