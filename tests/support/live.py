"""Real servers on 127.0.0.1 in a background thread: uvicorn serving our app or any ASGI app."""

import socket
import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from server.__main__ import uvicorn_config
from server.app import create_app
from server.config import Settings, parse_settings
from server.identity import Clock


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerThread:
    """uvicorn in its own thread and event loop; ``url`` once started."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.url = ""

    def __enter__(self) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start (see the log above)")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


def serve_asgi(app: ASGIApp, port: int = 0) -> ServerThread:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    return ServerThread(config)


class LiveServer:
    """The real chat server (our app factory, our uvicorn settings) on 127.0.0.1."""

    def __init__(
        self,
        settings: Settings,
        *,
        port: int = 0,
        clock: Clock | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        app = create_app(settings, clock=clock, http_transport=http_transport)
        config = uvicorn_config(settings, app)
        config.host, config.port, config.log_level = "127.0.0.1", port, "warning"
        self._thread = ServerThread(config)

    @property
    def url(self) -> str:
        return self._thread.url

    def __enter__(self) -> "LiveServer":
        self._thread.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._thread.__exit__(exc_type, exc, tb)


DEFAULT_ROOMS: list[dict[str, Any]] = [
    {"slug": "general", "name": "General"},
    {"slug": "engineering", "name": "Engineering", "allowed_groups": ["engineering"]},
]


def make_settings(
    *,
    database_url: str,
    providers: list[dict[str, Any]],
    rooms: list[dict[str, Any]] | None = None,
    sessions: dict[str, Any] | None = None,
    admin: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    **server: Any,
) -> Settings:
    """Settings for a test server; ``providers`` entries are ``[[providers]]`` tables. Metrics
    listen on a free port unless told otherwise (tests run many servers at once)."""
    return parse_settings(
        {
            "server": {"allowed_origins": ["http://127.0.0.1:8000"], **server},
            "sessions": sessions or {},
            "admin": admin or {},
            "metrics": {"port": 0} if metrics is None else metrics,
            "database": {"url": database_url},
            "providers": providers,
            "rooms": DEFAULT_ROOMS if rooms is None else rooms,
        }
    )


def dev_provider(issuer: str, **overrides: Any) -> dict[str, Any]:
    """The ``[[providers]]`` table for the dev identity provider at ``issuer``."""
    return {
        "id": "dev",
        "name": "Dev IdP",
        "issuer": issuer,
        "client_id": "chat-spa",
        "audience": "urn:sso-chat:api",
        "required_scopes": ["chat:write"],
        "scopes": "openid profile email groups offline_access chat:read chat:write",
        **overrides,
    }
