"""Bad input from an authenticated client, and raw protocol tricks: clear codes, never a crash."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
import pytest
import socketio
import socketio.exceptions

from devidp.process import DevIdp
from tests.e2e.conftest import Accounts
from tests.support.clients import ChatClient, connected
from tests.support.live import LiveServer, dev_provider, make_settings
from tests.support.wire import Polling, raw_socket

BAD_EVENTS: list[tuple[str, Any, str]] = [
    ("send_message", None, "invalid_request"),
    ("send_message", "hello", "invalid_request"),
    ("send_message", ["general", "hi"], "invalid_request"),
    ("send_message", 42, "invalid_request"),
    ("send_message", {"text": "no room"}, "invalid_request"),
    ("send_message", {"room": "general"}, "invalid_request"),
    ("send_message", {"room": "general", "text": 42}, "invalid_request"),
    ("send_message", {"room": "general", "text": ["a"]}, "invalid_request"),
    ("send_message", {"room": "general", "text": None}, "invalid_request"),
    ("send_message", {"room": "general", "text": ""}, "invalid_request"),
    ("send_message", {"room": "general", "text": "  \n\t "}, "invalid_request"),
    ("send_message", {"room": "general", "text": "nul\x00byte"}, "invalid_request"),
    ("send_message", {"room": "general", "text": "lone \ud800 surrogate"}, "invalid_request"),
    ("send_message", {"room": "general", "text": "x" * 4001}, "message_too_large"),
    ("send_message", {"room": "general", "text": "hi", "client_id": 7}, "invalid_request"),
    (
        "send_message",
        {"room": "general", "text": "hi", "client_id": "has space"},
        "invalid_request",
    ),
    ("send_message", {"room": "general", "text": "hi", "client_id": "x" * 65}, "invalid_request"),
    ("send_message", {"room": "nowhere", "text": "hi"}, "room_not_found"),
    ("send_message", {"room": "../general", "text": "hi"}, "invalid_request"),
    ("send_message", {"room": {"$ne": None}, "text": "hi"}, "invalid_request"),
    ("join", {"room": "nowhere"}, "room_not_found"),
    ("join", {"room": 1}, "invalid_request"),
    ("join", None, "invalid_request"),
    ("leave", {}, "invalid_request"),
    ("fetch_history", {"room": "general", "limit": 0}, "invalid_request"),
    ("fetch_history", {"room": "general", "limit": 101}, "invalid_request"),
    ("fetch_history", {"room": "general", "limit": "5"}, "invalid_request"),
    ("fetch_history", {"room": "general", "limit": True}, "invalid_request"),
    ("fetch_history", {"room": "general", "before": -1}, "invalid_request"),
    ("fetch_history", {"room": "general", "before": 5, "after": 1}, "invalid_request"),
    ("fetch_history", {"room": "general", "before": 2**70}, "invalid_request"),
    ("list_rooms", "x", "invalid_request"),
    ("no_such_event", {}, "unknown_event"),
    ("on_connect", {}, "unknown_event"),
    ("_dispatch", {}, "unknown_event"),
]


@pytest.fixture
async def alice(server: LiveServer, accounts: Accounts) -> AsyncIterator[ChatClient]:
    client = await connected(server.url, accounts.auth("alice"))
    yield client
    await client.close()


async def test_bad_payloads_get_error_acks_and_store_nothing(
    server: LiveServer, alice: ChatClient, accounts: Accounts
) -> None:
    observer = await connected(server.url, accounts.auth("bob"))
    try:
        await observer.call("join", {"room": "general"})
        for event, payload, code in BAD_EVENTS:
            ack = await alice.call(event, payload)
            assert ack["ok"] is False, (event, payload)
            assert ack["error"]["code"] == code, (event, payload, ack)
            assert isinstance(ack["error"]["message"], str)
        # the socket is still healthy and the history is empty
        history = await alice.call("fetch_history", {"room": "general"})
        await asyncio.sleep(0.1)
    finally:
        await observer.close()
    assert history == {"ok": True, "messages": [], "has_more": False}
    assert observer.posted == []


async def test_extra_arguments_are_refused(alice: ChatClient) -> None:
    ack = await alice.sio.call(
        "send_message", ({"room": "general", "text": "a"}, "extra"), timeout=10
    )
    assert ack["error"]["code"] == "invalid_request"


async def test_text_at_the_limit_is_accepted(alice: ChatClient) -> None:
    ack = await alice.call("send_message", {"room": "general", "text": "é" * 4000})
    assert ack["ok"]
    assert len(ack["message"]["text"]) == 4000


async def test_a_client_sent_connect_event_cannot_change_the_identity(
    alice: ChatClient, accounts: Accounts
) -> None:
    environ_lookalike = {"asgi.receive": "callable?", "HTTP_ORIGIN": "x"}
    await alice.sio.emit("connect", (environ_lookalike, accounts.auth("bob")))
    await alice.sio.emit("connect", accounts.auth("bob"))
    await alice.sio.emit("disconnect", "client namespace disconnect")
    await asyncio.sleep(0.1)
    ack = await alice.call("send_message", {"room": "general", "text": "who am I"})
    assert ack["message"]["sender"]["subject"] == "u-alice-0001"


@pytest.fixture
def polling_server(devidp: DevIdp, sqlite_url: str) -> Iterator[LiveServer]:
    """A server with long-polling turned on (off by default)."""
    settings = make_settings(
        database_url=sqlite_url, providers=[dev_provider(devidp.issuer)], websocket_only=False
    )
    with LiveServer(settings) as live:
        yield live


async def test_long_polling_connect_is_verified_and_refused_clients_are_cut_off(
    polling_server: LiveServer,
) -> None:
    polling = Polling(polling_server.url)
    try:
        await polling.open()
        await polling.post('40{"access_token":"x","id_token":"y"}')
        refused = (await polling.get()).text
        closed = (await polling.get()).text  # the server closes the transport after the refusal
    finally:
        await polling.close()
    assert refused.startswith("44")
    assert json.loads(refused[2:])["data"] == {"code": "invalid_token", "retryable": False}
    assert closed == "1"


async def test_long_polling_transport_binds_the_verified_identity(
    polling_server: LiveServer, accounts: Accounts
) -> None:
    polling = Polling(polling_server.url)
    try:
        await polling.open()
        await polling.post("40" + json.dumps(accounts.auth("bob")))
        assert (await polling.get()).text.startswith("40")
        await polling.post(
            '421["send_message",{"room":"general","text":"via polling","sender":"alice"}]'
        )
        ack = (await polling.get()).text
    finally:
        await polling.close()
    assert ack.startswith("431")
    message = json.loads(ack[3:])[0]["message"]
    assert message["sender"]["subject"] == "u-bob-0002"


async def test_unauthenticated_connections_are_closed_after_the_timeout(
    devidp: DevIdp, sqlite_url: str
) -> None:
    settings = make_settings(
        database_url=sqlite_url,
        providers=[dev_provider(devidp.issuer)],
        connect_timeout_seconds=0.4,
        websocket_only=False,
    )
    with LiveServer(settings) as live:
        idle = Polling(live.url)
        try:
            await idle.open()
            await asyncio.sleep(1.0)
            response = await idle.get()
        finally:
            await idle.close()
    assert response.status_code == 400 or response.text == "1"


async def test_foreign_origin_is_refused(server: LiveServer, accounts: Accounts) -> None:
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            server.url,
            auth=accounts.auth("alice"),
            headers={"Origin": "http://evil.test"},
            transports=["websocket"],
            wait_timeout=5,
        )
    await client.disconnect()


async def test_oversized_packet_closes_only_that_connection(
    server: LiveServer, accounts: Accounts
) -> None:
    async with raw_socket(server.url, accounts.auth("alice")) as ws:
        await ws.send_str('42["send_message",{"room":"general","text":"' + "x" * 200_000 + '"}]')
        closed = await ws.receive(timeout=5)
        assert closed.type in {
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        }
    other = await connected(server.url, accounts.auth("bob"))  # the server is fine
    try:
        assert (await other.call("list_rooms"))["ok"]
    finally:
        await other.close()


@pytest.mark.parametrize(
    "frame",
    [
        "42",
        "42[",
        '42["send_message"',
        "42{}",
        '42[{"a":1}]',
        "42[1,2,3]",
        '42["send_message",{"room":"general","text":"a"}]garbage',
        "4" + "9" * 50,
        "451-" + '["send_message",{"_placeholder":true,"num":0}]',
        "\x00\x01\x02",
        '42["send_message",' + "[" * 5000 + "]" * 5000 + "]",  # deeper than the recursion limit
        "40" + "{" * 3000,
    ],
)
async def test_raw_garbage_frames_do_not_break_the_server(
    server: LiveServer, accounts: Accounts, frame: str
) -> None:
    async with raw_socket(server.url, accounts.auth("alice")) as ws:
        await ws.send_str(frame)
        await asyncio.sleep(0.1)
    client = await connected(server.url, accounts.auth("alice"))
    try:
        ack = await client.call("send_message", {"room": "general", "text": "still here"})
        history = await client.call("fetch_history", {"room": "general"})
    finally:
        await client.close()
    assert ack["ok"]
    assert [m["text"] for m in history["messages"]] == ["still here"]


async def test_event_before_connect_is_ignored(server: LiveServer) -> None:
    async with raw_socket(server.url) as ws:
        await ws.send_str('420["send_message",{"room":"general","text":"unauthenticated"}]')
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive(timeout=0.5)  # no ack: there is no session to speak for


@pytest.mark.parametrize("name", ["1", "null", "[1]", '{"a":1}', "true", '"' + "e" * 5000 + '"'])
async def test_non_string_or_huge_event_names_get_an_unknown_event_ack(
    server: LiveServer, accounts: Accounts, name: str
) -> None:
    async with raw_socket(server.url, accounts.auth("alice")) as ws:
        await ws.send_str(f"427[{name},{{}}]")
        ack = (await ws.receive(timeout=5)).data
    assert ack.startswith("437")
    assert json.loads(ack[3:])[0]["error"]["code"] == "unknown_event"


async def test_an_event_racing_the_connect_is_never_served_unauthenticated(
    server: LiveServer, accounts: Accounts
) -> None:
    async with raw_socket(server.url) as ws:
        await ws.send_str('40{"access_token":"bad","id_token":"bad"}')
        await ws.send_str('421["send_message",{"room":"general","text":"raced"}]')
        frames = [(await ws.receive(timeout=5)).data]
        try:
            frames.append((await ws.receive(timeout=1)).data)
        except TimeoutError:
            pass
    assert frames[0].startswith("44")  # refused
    assert not any(str(f).startswith("431") and '"ok": true' in str(f) for f in frames)
    observer = await connected(server.url, accounts.auth("bob"))
    try:
        history = await observer.call("fetch_history", {"room": "general"})
    finally:
        await observer.close()
    assert history["messages"] == []


async def test_long_polling_is_refused_by_default(
    devidp: DevIdp, sqlite_url: str, accounts: Accounts
) -> None:
    settings = make_settings(database_url=sqlite_url, providers=[dev_provider(devidp.issuer)])
    assert settings.server.websocket_only
    with LiveServer(settings) as live:
        async with httpx.AsyncClient(base_url=live.url) as http:
            polling = await http.get("/socket.io/?EIO=4&transport=polling")
        client = await connected(live.url, accounts.auth("alice"))  # WebSocket still works
        await client.close()
    assert polling.status_code == 400
