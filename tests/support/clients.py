"""Real python-socketio clients for end-to-end tests, with what they received recorded."""

import asyncio
from typing import Any

import socketio
import socketio.exceptions


class ChatClient:
    """An AsyncClient that records ``message_posted`` events and connect errors."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.posted: list[dict[str, Any]] = []
        self.connect_error: Any = None
        self.sio.on("message_posted", self._on_posted)
        self.sio.on("connect_error", self._on_connect_error)

    async def _on_posted(self, data: dict[str, Any]) -> None:
        self.posted.append(data)

    async def _on_connect_error(self, data: Any) -> None:
        self.connect_error = data

    async def connect(self, url: str, auth: object, transports: list[str] | None = None) -> None:
        await self.sio.connect(
            url, auth=auth, transports=transports or ["websocket"], wait_timeout=10
        )

    async def call(self, event: str, data: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.sio.call(event, data, timeout=10)
        return result

    async def close(self) -> None:
        await self.sio.disconnect()


async def connected(url: str, auth: object) -> ChatClient:
    client = ChatClient()
    await client.connect(url, auth)
    return client


async def refusal(url: str, auth: object, transports: list[str] | None = None) -> dict[str, Any]:
    """Connect and expect a refusal; returns ``err.data`` (``{code, retryable}``).

    python-socketio hands ``connect_error`` handlers ``{"message": ..., "data": ...}``.
    """
    client = ChatClient()
    try:
        await client.connect(url, auth, transports)
    except socketio.exceptions.ConnectionError:
        pass
    else:
        await client.close()
        raise AssertionError("the connection was accepted")
    for _ in range(50):
        if client.connect_error is not None:
            break
        await asyncio.sleep(0.01)
    error = client.connect_error
    assert isinstance(error, dict), error
    assert isinstance(error.get("message"), str)  # socket.io-client's err.message
    data = error.get("data")  # socket.io-client's err.data
    assert isinstance(data, dict), error
    return data
