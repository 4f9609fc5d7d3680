"""Security headers on every HTTP answer of ours: the web app, the API, Socket.IO's long-polling."""

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeaders"]

Header = tuple[bytes, bytes]

# Browsers ignore HSTS over http, and sending it there could pin a host that has no TLS yet:
# it goes only on answers to https requests (the scheme uvicorn saw, or the trusted proxy's).
_HSTS: Header = (b"strict-transport-security", b"max-age=31536000")


def _baseline(csp: str) -> list[Header]:
    return [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
        # An answer that sets no caching of its own (API JSON, errors, long-polling packets)
        # must not be stored anywhere; the static files set their own.
        (b"cache-control", b"no-store"),
    ]


def _with_defaults(headers: list[Header], defaults: list[Header]) -> list[Header]:
    """``headers`` plus each default whose name is not there yet (names are case-insensitive)."""
    present = {name.lower() for name, _ in headers}
    return [*headers, *(header for header in defaults if header[0] not in present)]


class SecurityHeaders:
    """Adds the security headers to every HTTP response (pure ASGI: WebSockets pass untouched).

    A header the response already carries is kept as it is, never sent twice. The content
    security policy may be a function: it names the providers, which change at runtime.
    """

    def __init__(self, app: ASGIApp, csp: str | Callable[[], str]) -> None:
        self._app = app
        self._csp = csp if callable(csp) else (lambda: csp)
        self._policy = ""
        self._http: list[Header] = []
        self._https: list[Header] = []

    def _defaults(self, scheme: object) -> list[Header]:
        policy = self._csp()
        if policy != self._policy:
            self._policy, self._http = policy, _baseline(policy)
            self._https = [*self._http, _HSTS]
        return self._https if scheme == "https" else self._http

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        defaults = self._defaults(scope.get("scheme"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = _with_defaults(list(message.get("headers", [])), defaults)
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, send_with_headers)
