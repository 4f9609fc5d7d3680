"""Engine.IO / Socket.IO spoken by hand: a bare WebSocket and the long-polling transport."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import httpx


@asynccontextmanager
async def raw_socket(
    base_url: str, auth: object = None, headers: dict[str, str] | None = None
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A bare Engine.IO WebSocket: opened, and connected to the namespace when ``auth`` is given."""
    url = base_url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as ws:
        await ws.receive()  # the Engine.IO open packet
        if auth is not None:
            await ws.send_str("40" + json.dumps(auth))
            assert (await ws.receive()).data.startswith("40")
        yield ws


def is_closed(message: aiohttp.WSMessage) -> bool:
    return message.type in {
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.CLOSING,
    }


class Polling:
    """The Engine.IO long-polling transport spoken by hand (python-socketio's client is slow at it).

    One ``httpx.AsyncClient``, so the cookie the server sets at the handshake is sent back.
    """

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10, headers=headers)
        self.sid = ""

    async def open(self) -> httpx.Response:
        response = await self.http.get("/socket.io/?EIO=4&transport=polling")
        if response.status_code == 200:
            self.sid = json.loads(response.text[1:])["sid"]
        return response

    async def post(self, packet: str) -> None:
        response = await self.http.post(self.path, content=packet)
        assert response.text == "OK", response.text

    async def get(self) -> httpx.Response:
        return await self.http.get(self.path)

    @property
    def path(self) -> str:
        return f"/socket.io/?EIO=4&transport=polling&sid={self.sid}"

    async def close(self) -> None:
        await self.http.aclose()
