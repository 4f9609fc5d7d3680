"""scripts/balancer.py, the dev balancer: a real subprocess in front of tiny echo backends."""

import asyncio
import contextlib
import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

BALANCER = Path(__file__).resolve().parents[1] / "scripts" / "balancer.py"
TIMEOUT = 10.0


class EchoBackend:
    """Greets each connection with its name, echoes lines, closes on ``bye``; notes client EOF."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.client_left = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await asyncio.wait_for(self._server.wait_closed(), TIMEOUT)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(f"{self.name}\n".encode())
            await writer.drain()
            while line := await reader.readline():
                if line == b"bye\n":
                    return
                writer.write(line)
                await writer.drain()
            self.client_left.set()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class BalancerProcess:
    def __init__(self, process: asyncio.subprocess.Process, listen: str) -> None:
        self.process = process
        self.host, port = listen.rsplit(":", 1)
        self.port = int(port)

    async def stop(self) -> str:
        """Stop it (SIGTERM) and return what it wrote to stderr."""
        if self.process.returncode is None:
            self.process.terminate()
        try:
            _, err = await asyncio.wait_for(self.process.communicate(), TIMEOUT)
        except TimeoutError:
            self.process.kill()
            _, err = await self.process.communicate()
        return err.decode()


def _dead_address() -> str:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


async def _run(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(BALANCER),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@contextlib.asynccontextmanager
async def balancer(*backends: str, retry_seconds: float = 30) -> AsyncIterator[BalancerProcess]:
    flags = [part for address in backends for part in ("--backend", address)]
    process = await _run("--listen", "127.0.0.1:0", "--retry-seconds", str(retry_seconds), *flags)
    running = BalancerProcess(process, "127.0.0.1:0")
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
        assert line.startswith(b"BALANCER_READY "), line
        running = BalancerProcess(process, json.loads(line.split(b" ", 1)[1])["listen"])
        yield running
    finally:
        await running.stop()


@contextlib.asynccontextmanager
async def backends(*names: str) -> AsyncIterator[list[tuple[EchoBackend, str]]]:
    started: list[tuple[EchoBackend, str]] = []
    try:
        for name in names:
            backend = EchoBackend(name)
            started.append((backend, await backend.start()))
        yield started
    finally:
        for backend, _ in started:
            await backend.stop()


async def _connect(lb: BalancerProcess) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(lb.host, lb.port), TIMEOUT)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await asyncio.wait_for(writer.wait_closed(), TIMEOUT)


async def _greeting(lb: BalancerProcess) -> str:
    """Which backend answers a new connection."""
    reader, writer = await _connect(lb)
    try:
        return (await asyncio.wait_for(reader.readline(), TIMEOUT)).decode().strip()
    finally:
        await _close(writer)


async def test_new_connections_take_turns_between_backends() -> None:
    async with backends("a", "b") as pair, balancer(*(address for _, address in pair)) as lb:
        names = [await _greeting(lb) for _ in range(4)]
    assert names == ["a", "b", "a", "b"]


async def test_refusing_backend_is_skipped_and_logged_once_without_payload() -> None:
    dead = _dead_address()
    async with backends("a", "b") as pair:
        (_, a), (_, b) = pair
        async with balancer(a, dead, b) as lb:
            names = [await _greeting(lb) for _ in range(4)]
            reader, writer = await _connect(lb)
            await asyncio.wait_for(reader.readline(), TIMEOUT)
            writer.write(b"payload-7f3a\n")
            echoed = await asyncio.wait_for(reader.readline(), TIMEOUT)
            await _close(writer)
            log = await lb.stop()
    assert names == ["a", "b", "a", "b"]
    assert echoed == b"payload-7f3a\n"
    assert [line for line in log.splitlines() if dead in line and "down" in line] != []
    assert len([line for line in log.splitlines() if dead in line]) == 1
    assert "payload-7f3a" not in log


async def test_backend_back_up_is_used_again_after_the_retry_delay() -> None:
    dead = _dead_address()
    revived = EchoBackend("b")
    async with backends("a") as ((_, a),), balancer(a, dead, retry_seconds=0.2) as lb:
        before = [await _greeting(lb) for _ in range(2)]
        await revived.start(int(dead.rsplit(":", 1)[1]))
        try:
            await asyncio.sleep(0.4)
            after = [await _greeting(lb) for _ in range(2)]
        finally:
            await revived.stop()
        log = await lb.stop()
    assert before == ["a", "a"]
    assert after == ["b", "a"]
    assert [line for line in log.splitlines() if dead in line and " up" in line] != []


async def test_connection_is_closed_when_no_backend_accepts() -> None:
    async with balancer(_dead_address(), _dead_address()) as lb:
        reader, writer = await _connect(lb)
        try:
            assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
        finally:
            await _close(writer)


async def test_client_closing_closes_the_backend_side() -> None:
    async with backends("a") as ((backend, address),), balancer(address) as lb:
        reader, writer = await _connect(lb)
        assert await asyncio.wait_for(reader.readline(), TIMEOUT) == b"a\n"
        await _close(writer)
        await asyncio.wait_for(backend.client_left.wait(), TIMEOUT)


async def test_backend_closing_closes_the_client_side() -> None:
    async with backends("a") as ((_, address),), balancer(address) as lb:
        reader, writer = await _connect(lb)
        try:
            await asyncio.wait_for(reader.readline(), TIMEOUT)
            writer.write(b"hello\nbye\n")
            assert await asyncio.wait_for(reader.read(), TIMEOUT) == b"hello\n"
        finally:
            await _close(writer)


async def test_stop_with_open_connections_exits_cleanly() -> None:
    async with backends("a") as ((_, address),), balancer(address) as lb:
        reader, writer = await _connect(lb)
        try:
            await asyncio.wait_for(reader.readline(), TIMEOUT)
            log = await lb.stop()
        finally:
            await _close(writer)
    assert lb.process.returncode == 0
    assert "Traceback" not in log


@pytest.mark.parametrize(
    "args",
    [
        ["--listen", "0.0.0.0:0", "--backend", "127.0.0.1:9"],
        ["--listen", "192.168.1.10:8000", "--backend", "127.0.0.1:9"],
        ["--listen", "127.0.0.1:0", "--backend", "10.1.2.3:80"],
        ["--listen", "127.0.0.1:0", "--backend", "example.com:80"],
    ],
)
async def test_non_loopback_address_is_refused(args: list[str]) -> None:
    process = await _run(*args)
    try:
        out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    assert process.returncode == 2
    assert b"BALANCER_READY" not in out
    assert b"127.0.0.1:PORT" in err
