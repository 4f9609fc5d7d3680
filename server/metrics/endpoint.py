"""Where ``/metrics`` is served: its own listen address (default), or the main port with a token.

The own address is a minimal HTTP/1.1 responder on the event loop (one request per connection,
its head bounded in size and time), so a scrape reads the server's structures on their thread
and needs no second web server. On the main port a bearer token is required, compared in
constant time; without one configured, the main port has no ``/metrics``.
"""

import asyncio
import hmac
import logging

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 8192
HEAD_TIMEOUT_SECONDS = 5.0


class MetricsServer:
    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> str:
        """Listen; returns the URL of ``/metrics`` (the real port when 0 was asked)."""
        self._server = await asyncio.start_server(
            self._serve, self._host, self._port, limit=MAX_HEAD_BYTES
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}/metrics"
        logger.info("metrics on %s", self.url)
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEAD_TIMEOUT_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
            method, path = _request_line(head)
            if method in ("GET", "HEAD") and path.split("?", 1)[0] == "/metrics":
                body = generate_latest(self._registry)
                _respond(writer, "200 OK", CONTENT_TYPE_LATEST, body, method == "HEAD")
            else:
                _respond(writer, "404 Not Found", "text/plain", b"not found\n", False)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a slow, cut or oversized request: closed without an answer
        except ConnectionError:
            pass
        finally:
            writer.close()


def _request_line(head: bytes) -> tuple[str, str]:
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError("not an HTTP/1.x request line")
    return parts[0], parts[1]


def _respond(
    writer: asyncio.StreamWriter, status: str, content_type: str, body: bytes, head_only: bool
) -> None:
    headers = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    writer.write(headers.encode("latin-1") + (b"" if head_only else body))


class MetricsEndpoint:
    """``GET /metrics`` on the main port: only with ``Authorization: Bearer <token>``."""

    def __init__(self, registry: CollectorRegistry, token: str) -> None:
        self._registry = registry
        self._token = token.encode()

    async def respond(self, request: Request) -> Response:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), self._token):
            error = {"code": "invalid_token", "message": "A metrics token is required."}
            return JSONResponse(
                {"error": error},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"', "Cache-Control": "no-store"},
            )
        body = generate_latest(self._registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
