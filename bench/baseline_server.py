"""The insecure baseline: the classic python-socketio chat, with our events but no auth and no DB.

The client's claimed name (``auth.username`` at connect, or a ``set username`` event) is believed,
as in the classic chat. ``join`` and ``send_message`` mirror our server's events (ack on send,
``message_posted`` broadcast to the room), so the comparison measures what auth and SQL cost.
It is served by uvicorn with exactly our server's settings (``server.__main__.uvicorn_config``).

Usage: ``python -m bench.baseline_server --port PORT``
"""

import argparse
import itertools
import logging
from datetime import UTC, datetime
from typing import Any

import socketio
import uvicorn

from server.__main__ import uvicorn_config
from server.config import Settings, parse_settings

logger = logging.getLogger(__name__)


def _settings(port: int) -> Settings:
    # uvicorn_config reads only [server]; the provider entry satisfies validation and is unused.
    return parse_settings(
        {
            "server": {
                "host": "127.0.0.1",
                "port": port,
                "allowed_origins": [f"http://127.0.0.1:{port}"],
                "websocket_only": True,
                "log_level": "warning",
            },
            "providers": [
                {"id": "none", "issuer": "http://127.0.0.1", "client_id": "x", "audience": "api"}
            ],
        }
    )


def _ack_error(message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": "invalid_request", "message": message}}


def create_baseline_app(settings: Settings) -> socketio.ASGIApp:
    """The classic chat as an ASGI app, with the same Socket.IO server options as ours."""
    sio = socketio.AsyncServer(
        async_mode="asgi",
        cors_allowed_origins=list(settings.server.allowed_origins),
        max_http_buffer_size=settings.server.max_payload_bytes,
        transports=["websocket"] if settings.server.websocket_only else ["polling", "websocket"],
        logger=False,
        engineio_logger=False,
    )
    ids = itertools.count(1)

    @sio.event  # type: ignore[untyped-decorator]  # socketio ships no type information
    async def connect(sid: str, environ: dict[str, Any], auth: object = None) -> None:
        name = auth.get("username") if isinstance(auth, dict) else None
        await sio.save_session(sid, {"username": str(name or sid)})

    @sio.on("set username")  # type: ignore[untyped-decorator]  # no type information
    async def set_username(sid: str, name: object) -> dict[str, Any]:
        await sio.save_session(sid, {"username": str(name)})
        return {"ok": True}

    @sio.event  # type: ignore[untyped-decorator]  # no type information
    async def join(sid: str, data: object) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("room"), str):
            return _ack_error("room missing")
        await sio.enter_room(sid, f"room:{data['room']}")
        return {"ok": True, "room": {"slug": data["room"], "name": data["room"]}}

    @sio.event  # type: ignore[untyped-decorator]  # no type information
    async def send_message(sid: str, data: object) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            return _ack_error("text missing")
        room = str(data.get("room", "general"))
        session = await sio.get_session(sid)
        message = {
            "id": next(ids),
            "room": room,
            "text": data["text"],
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "client_id": data.get("client_id"),
            "sender": {"name": session.get("username")},
        }
        await sio.emit("message_posted", message, room=f"room:{room}")
        return {"ok": True, "message": message}

    return socketio.ASGIApp(sio, socketio_path="socket.io")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.baseline_server", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    settings = _settings(args.port)
    uvicorn.Server(uvicorn_config(settings, create_baseline_app(settings))).run()


if __name__ == "__main__":
    main()
