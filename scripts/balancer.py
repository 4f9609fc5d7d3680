"""A small TCP load balancer on loopback, for trying a cluster by hand and for tests.

A dev tool, NOT for production: it binds and connects only to 127.0.0.1/localhost, has no
health checks beyond "the connect worked", no limits and no TLS. In production put any L4/L7
balancer in front of the nodes (see the README, "Running several processes").

    python scripts/balancer.py --listen 127.0.0.1:8000 \\
        --backend 127.0.0.1:8001 --backend 127.0.0.1:8002 --backend 127.0.0.1:8003

Each new TCP connection goes to the next backend in turn; one that refuses the connect (or does
not answer within the connect timeout) is marked down, skipped, and tried again later. Bytes are
piped both ways untouched, so HTTP and WebSocket upgrades pass through. When either side closes,
both are closed. Prints one line to stdout once listening, ``BALANCER_READY {"listen": "..."}``
(with the real port when asked for port 0); logs one line to stderr per backend state change.
"""

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from dataclasses import dataclass

logger = logging.getLogger("balancer")

_LOOPBACK = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1"}
_CHUNK = 64 * 1024
_CLOSE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_address(text: str) -> Address:
    """``HOST:PORT`` with HOST 127.0.0.1 or localhost (taken as 127.0.0.1).

    Raises:
        argparse.ArgumentTypeError: another host, or a malformed port.
    """
    host, sep, port = text.rpartition(":")
    if not sep or host not in _LOOPBACK:
        raise argparse.ArgumentTypeError(
            f"{text!r}: only 127.0.0.1:PORT or localhost:PORT (a dev tool; in production use "
            "a real load balancer, see the README)"
        )
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: the port must be a number in 0..65535")
    return Address(_LOOPBACK[host], int(port))


def parse_backend(text: str) -> Address:
    """Like :func:`parse_address`, but port 0 (any port) makes no sense to connect to."""
    address = parse_address(text)
    if address.port == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a backend needs a real port")
    return address


@dataclass(slots=True)
class _Backend:
    address: Address
    up: bool = True  # assumed up until a connect fails
    retry_at: float = 0.0  # while down, skipped (unless all else fails) until this loop time


class Balancer:
    """Round robin per connection over ``backends``, skipping those that refuse."""

    def __init__(
        self, backends: list[Address], connect_timeout: float, retry_seconds: float
    ) -> None:
        self._backends = [_Backend(address) for address in backends]
        self._connect_timeout = connect_timeout
        self._retry_seconds = retry_seconds
        self._next = 0

    async def handle(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        """Pipe one client connection to a backend until either side closes."""
        try:
            # Cancelled at shutdown: Python 3.11's start_server would log a handler that ends
            # cancelled as an error (it calls task.exception()); nothing awaits this task.
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay(client_reader, client)
        finally:
            await _close(client)

    async def _relay(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        upstream = await self._connect()
        if upstream is None:
            return
        backend_reader, backend = upstream
        try:
            await _pipe(client_reader, client, backend_reader, backend)
        finally:
            await _close(backend)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for index in self._candidates():
            backend = self._backends[index]
            try:
                streams = await asyncio.wait_for(
                    asyncio.open_connection(backend.address.host, backend.address.port),
                    self._connect_timeout,
                )
            except (OSError, TimeoutError) as exc:
                self._mark_down(backend, exc)
                continue
            self._mark_up(backend)
            self._next = (index + 1) % len(self._backends)
            return streams
        logger.warning("no backend accepted the connection; closing it")
        return None

    def _candidates(self) -> list[int]:
        """Backends in round-robin order from the next one; those down (not yet due) last."""
        count = len(self._backends)
        start = self._next
        self._next = (start + 1) % count  # a concurrent connection starts from the next one
        order = [(start + offset) % count for offset in range(count)]
        now = asyncio.get_running_loop().time()
        ready = [i for i in order if self._backends[i].up or self._backends[i].retry_at <= now]
        return ready + [i for i in order if i not in ready]

    def _mark_down(self, backend: _Backend, exc: BaseException) -> None:
        backend.retry_at = asyncio.get_running_loop().time() + self._retry_seconds
        if backend.up:
            backend.up = False
            reason = "connect timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            logger.warning("backend %s down (%s)", backend.address, reason)

    def _mark_up(self, backend: _Backend) -> None:
        if not backend.up:
            backend.up = True
            logger.info("backend %s up", backend.address)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()


async def _pipe(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    backend_reader: asyncio.StreamReader,
    backend: asyncio.StreamWriter,
) -> None:
    """Copy both ways; return as soon as one direction ends (the caller closes both)."""
    tasks = {
        asyncio.create_task(_copy(client_reader, backend)),
        asyncio.create_task(_copy(backend_reader, client)),
    }
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), _CLOSE_TIMEOUT_SECONDS)


async def serve(listen: Address, balancer: Balancer) -> None:
    """Listen until SIGINT or SIGTERM."""
    server = await asyncio.start_server(balancer.handle, listen.host, listen.port)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write("BALANCER_READY " + json.dumps({"listen": f"{listen.host}:{port}"}) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="balancer.py", description="A dev-only TCP round-robin balancer on loopback."
    )
    parser.add_argument("--listen", type=parse_address, required=True, help="127.0.0.1:PORT")
    parser.add_argument(
        "--backend", type=parse_backend, action="append", required=True, help="repeatable"
    )
    parser.add_argument("--connect-timeout", type=float, default=2.0, help="seconds")
    parser.add_argument(
        "--retry-seconds", type=float, default=2.0, help="how long a down backend is skipped"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr
    )
    balancer = Balancer(args.backend, args.connect_timeout, args.retry_seconds)
    asyncio.run(serve(args.listen, balancer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
