"""Raw Engine.IO / Socket.IO frames, and bare transports that send whatever they are given.

python-socketio's client only speaks the protocol correctly; these speak it as an attacker would:
any text or binary frame, on a WebSocket or as long-polling POST bodies.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

import aiohttp
import httpx

Frame = str | bytes
ORIGIN = "http://127.0.0.1:8000"  # in make_settings' allowed_origins
RECORD_SEPARATOR = "\x1e"  # between Engine.IO packets in a long-polling payload
_CLOSING = {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED}


def sio(
    kind: str, data: str = "", *, namespace: str = "", ack: str = "", attachments: str = ""
) -> str:
    """A Socket.IO packet in an Engine.IO message, every part spelt out so any part can be junk."""
    head = "4" + kind
    if attachments:
        head += attachments + "-"
    if namespace:
        head += namespace + ","
    return head + ack + data


def event(name: object, *args: object, ack: int | None = None) -> str:
    """A well-formed EVENT packet on the default namespace."""
    return sio("2", json.dumps([name, *args]), ack="" if ack is None else str(ack))


def ack_of(frame: Frame) -> tuple[int, object] | None:
    """``(ack id, arguments)`` when ``frame`` is an ACK packet on the default namespace."""
    if not isinstance(frame, str) or not frame.startswith("43"):
        return None
    body = frame[2:]
    digits = len(body) - len(body.lstrip("0123456789"))
    if digits == 0:
        return None
    arguments: object = json.loads(body[digits:])
    return int(body[:digits]), arguments


class Transport(Protocol):
    """One Engine.IO connection, as the fuzz test drives it."""

    received: list[Frame]
    closed: bool

    async def send(self, frame: Frame) -> None: ...

    async def settle(self, done: Callable[[], bool], seconds: float) -> None:
        """Receive until ``done()``, the connection closes, or ``seconds`` pass."""
        ...


class RawSocket:
    """A bare Engine.IO WebSocket: every frame received is kept in ``received``."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self.received: list[Frame] = []
        self.closed = False
        self._arrived = asyncio.Event()

    @classmethod
    @asynccontextmanager
    async def open(cls, http: aiohttp.ClientSession, base_url: str) -> AsyncIterator["RawSocket"]:
        url = base_url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        async with http.ws_connect(url, headers={"Origin": ORIGIN}, max_msg_size=0) as ws:
            await ws.receive(timeout=5)  # the Engine.IO open packet
            socket = cls(ws)
            reader = asyncio.create_task(socket._read())
            try:
                yield socket
            finally:
                await ws.close()
                await reader

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type in _CLOSING or message.type == aiohttp.WSMsgType.ERROR:
                break
            if message.data == "2":
                await self.send("3")  # answer the server's ping
            self.received.append(message.data)
            self._arrived.set()
        self.closed = True
        self._arrived.set()

    async def send(self, frame: Frame) -> None:
        if self.closed or self._ws.closed:
            return
        try:
            if isinstance(frame, bytes):
                await self._ws.send_bytes(frame)
            else:
                await self._ws.send_str(frame)
        except (ConnectionError, aiohttp.ClientError):
            self.closed = True

    async def settle(self, done: Callable[[], bool], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not done() and not self.closed:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), deadline - time.monotonic())
            except TimeoutError:
                return


class RawPolling:
    """The Engine.IO long-polling transport by hand: POSTs frames, GETs what the server queued."""

    def __init__(self, http: httpx.AsyncClient, sid: str) -> None:
        self._http = http
        self._path = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
        self.received: list[Frame] = []
        self.closed = False
        self.statuses: list[int] = []

    @classmethod
    @asynccontextmanager
    async def open(cls, base_url: str) -> AsyncIterator["RawPolling"]:
        headers = {"Origin": ORIGIN}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=5) as http:
            response = await http.get("/socket.io/?EIO=4&transport=polling")
            assert response.status_code == 200, response.text
            polling = cls(http, json.loads(response.text[1:])["sid"])
            try:
                yield polling
            finally:  # the Engine.IO CLOSE packet, in case the server kept the session
                await http.post(polling._path, content="1")

    async def send(self, frame: Frame) -> None:
        """POST one payload: ``frame`` may itself hold several packets joined by ``\\x1e``."""
        if self.closed:
            return
        kind = "application/octet-stream" if isinstance(frame, bytes) else "text/plain"
        response = await self._http.post(self._path, content=frame, headers={"Content-Type": kind})
        self._note(response.status_code)

    async def settle(self, done: Callable[[], bool], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not done() and not self.closed and (left := deadline - time.monotonic()) > 0:
            try:
                response = await self._http.get(self._path, timeout=left)
            except httpx.TimeoutException:
                return
            self._note(response.status_code)
            if response.status_code == 200:
                packets = response.text.split(RECORD_SEPARATOR)
                self.received.extend(packets)
                self.closed = "1" in packets

    def _note(self, status: int) -> None:
        self.statuses.append(status)
        self.closed = self.closed or status != 200
