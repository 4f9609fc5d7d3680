"""Where the provider probe may send a request: the URL's shape and the addresses its host has.

The probe requests URLs an admin typed and URLs a remote document names. Each must be a plain
http(s) URL (http only on loopback), and every address its host resolves to must be a fit
target: never a cloud metadata service, a link-local, unspecified, multicast or reserved address,
and an IPv4 address embedded in IPv6 (mapped or NAT64) is judged as that IPv4 address.
Outside text shown to the admin (host names, URLs, key names) passes through ``shown``.
"""

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from server.config import check_http_url
from server.errors import AppError

logger = logging.getLogger(__name__)

# Shaped like ``loop.getaddrinfo``: (host, port) -> [(family, type, proto, canonname, sockaddr)].
Resolver = Callable[[str, int], Awaitable[Sequence[tuple[Any, ...]]]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAX_URL = 2048
_METADATA = {ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254")}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


class RefusedError(AppError):
    """A destination the probe must not request; ``detail`` is what the admin is shown."""

    code: ClassVar[str] = "probe_destination_refused"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def lookup(url: str, resolve: Resolver) -> str:
    """Where ``url``'s host resolves, as the admin is shown it.

    ``resolve`` bounds its own time; its ``TimeoutError`` propagates.

    Raises:
        RefusedError: the port is invalid, the host does not resolve, or an address is unfit.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise RefusedError("the URL has an invalid port") from exc
    addresses = await _addresses(host, port, resolve)
    if not addresses:
        raise RefusedError(f"{shown(host)} resolves to no address")
    for address in addresses:
        why = refusal(address)
        if why is not None:
            raise RefusedError(f"{shown(host)} resolves to {address}, {why}: refused")
    return f"{shown(host)} resolves to {names(sorted({str(a) for a in addresses}), 100)}"


async def _addresses(host: str, port: int, resolve: Resolver) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await resolve(host, port)
    except TimeoutError:  # an OSError too, but the caller's budget reports it
        raise
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RefusedError(f"cannot resolve {shown(host)}: {reason}") from exc
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def refusal(address: Address) -> str | None:
    """Why no request may go to ``address`` (metadata services, non-unicast), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return refusal(address.ipv4_mapped)
        if address in _NAT64:
            return refusal(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.is_loopback:
        return None
    if address in _METADATA:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address (cloud metadata)"
    if address.is_unspecified or address in _THIS_NETWORK:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    return None


def issuer_url_problem(issuer: str) -> str | None:
    """Why the issuer an admin typed is not a URL to probe, or None."""
    if not 0 < len(issuer) <= _MAX_URL:
        return f"the issuer must be 1 to {_MAX_URL} characters"
    if _has_blanks(issuer):
        return "the issuer must not contain spaces or control characters"
    try:
        check_http_url(issuer, "the issuer")
        parts = urlsplit(issuer)
        _ = parts.port  # raises ValueError for an invalid port
    except ValueError as exc:
        return str(exc)
    if "@" in parts.netloc:
        return "the issuer must not contain user info"
    if "?" in issuer or "#" in issuer:
        return "the issuer must not have a query or a fragment"
    return None


def url_problem(name: str, value: str | None) -> str | None:
    """Why the URL a document names under ``name`` is missing or unfit, or None."""
    if value is None:
        return f"{name} missing"
    if len(value) > _MAX_URL:
        return f"{name} longer than {_MAX_URL} characters"
    if _has_blanks(value):
        return f"{name} contains spaces or control characters"
    try:
        check_http_url(value, name)
    except ValueError:
        return f"{name} {shown(value, 60)!r} is not https (http only on loopback)"
    return None


def _has_blanks(url: str) -> bool:
    return any(ch.isspace() or not ch.isprintable() for ch in url)


def shown(value: object, limit: int = 80) -> str:
    """Outside text made safe to show: printable, at most ``limit`` characters."""
    if isinstance(value, str | int | float | bool) or value is None:
        text = value if isinstance(value, str) else repr(value)
    else:
        text = f"<{type(value).__name__}>"
    clean = "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
    return clean + ("…" if len(text) > limit else "")


def names(values: Iterable[object], limit: int, each: int = 40) -> str:
    """A comma-separated list of shown values, cut past about ``limit`` characters."""
    items = list(values)
    listed: list[str] = []
    for value in items:
        if sum(len(s) + 2 for s in listed) > limit:
            return ", ".join(listed) + f" and {len(items) - len(listed)} more"
        listed.append(shown(value, each))
    return ", ".join(listed)
