"""``chat-server [--config PATH] {serve,migrate,check-config,audit verify [--head ID:HASH]}``."""

import argparse
import asyncio
import logging
import socket
import sys
from collections.abc import Awaitable, Callable

import uvicorn
from starlette.types import ASGIApp

from server import logs
from server.app import create_app
from server.audit import AuditLog, ChainHead, ChainReport, InvalidHeadError, parse_head
from server.config import Settings, load_settings
from server.errors import ConfigError
from server.storage import AuditRepository, check_schema, create_engine, upgrade

logger = logging.getLogger(__name__)

MAX_REQUEST_HEAD_BYTES = 32 * 1024  # request line + headers, as a reverse proxy allows
DRAIN_SECONDS = 5.0  # telling every socket and letting the last writes commit
GRACEFUL_SHUTDOWN_SECONDS = 5  # then uvicorn waits this long for connections to close


class ChatServer(uvicorn.Server):
    """uvicorn, which first stops accepting and lets the application ``drain`` (tell every socket
    ``server_shutdown``, let the last writes commit) before it closes the connections."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._drain = drain

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's own shutdown (0.54), with the drain first and a close that tolerates a
        # connection its client is closing already: uvicorn's raises InvalidState there,
        # which ended the process before the lifespan (and the writer's last commits) ran.
        logger.info("shutting down")
        for server in self.servers:
            server.close()  # no new connections while the old ones are told
        for sock in sockets or []:
            sock.close()
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                await self._drain()
        except TimeoutError:
            logger.warning("shutting down: the drain took over %.0f s", DRAIN_SECONDS)
        except Exception:
            logger.exception("shutting down: the drain failed")
        for connection in list(self.server_state.connections):
            try:
                connection.shutdown()
            except Exception:  # already closing: nothing left to ask of it
                logger.debug("shutting down: a connection was already closing", exc_info=True)
        await asyncio.sleep(0.1)
        try:
            async with asyncio.timeout(GRACEFUL_SHUTDOWN_SECONDS):
                await self._wait_tasks_to_complete()
        except TimeoutError:
            logger.error("shutting down: cancelling %d tasks", len(self.server_state.tasks))
            for task in self.server_state.tasks:
                task.cancel(msg="graceful shutdown timed out")
        if not self.force_exit:
            await self.lifespan.shutdown()


def uvicorn_config(settings: Settings, app: ASGIApp) -> uvicorn.Config:
    """The uvicorn settings this server is meant to run with."""
    return uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        # httptools buffers request heads without any bound (200 MB of headers on one socket
        # grew the process by 190 MB); h11 refuses a head over this size. It costs about
        # 0.1 ms more CPU per HTTP request, paid once per WebSocket connect.
        http="h11",
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
        ws="websockets-sansio",
        ws_max_size=settings.server.max_payload_bytes,
        ws_per_message_deflate=False,
        lifespan="on",
        log_level=settings.server.log_level,
        log_config=None,  # server.logs configured every logger, uvicorn's included
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chat-server", description=__doc__)
    _config_option(parser, None)
    commands = parser.add_subparsers(dest="command", metavar="{serve,migrate,check-config,audit}")
    parser.set_defaults(command="serve")
    for name, summary in (
        ("serve", "run the server (the default)"),
        ("migrate", "bring the database to the latest schema"),
        ("check-config", "validate the configuration"),
    ):
        _config_option(commands.add_parser(name, help=summary))
    audit = commands.add_parser("audit", help="the audit log")
    _config_option(audit)
    actions = audit.add_subparsers(dest="audit_command", metavar="{verify}", required=True)
    verify = actions.add_parser("verify", help="check the audit hash chain")
    _config_option(verify)
    verify.add_argument("--head", help="a head published earlier, ID:HASH (detects truncation)")
    return parser


def _config_option(parser: argparse.ArgumentParser, default: object = argparse.SUPPRESS) -> None:
    # Accepted before or after the command; after it, SUPPRESS keeps a value given before.
    parser.add_argument(
        "--config",
        default=default,
        help="TOML config file (default: $CHAT_CONFIG or config/dev.toml)",
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure("text", "info")
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"chat-server: {exc}\n")
        return 2
    logs.configure(settings.server.log_format, settings.server.log_level)
    if args.command == "check-config":
        sys.stdout.write("configuration is valid\n")
        return 0
    if args.command == "migrate":
        upgrade(settings.database.url)
        logger.info("database is at the latest schema")
        return 0
    if args.command == "audit":
        return audit_verify(settings, args.head)
    app = create_app(settings)
    server = ChatServer(uvicorn_config(settings, app), app.drain)
    server.run()
    return 0 if server.started else 1


def audit_verify(settings: Settings, head_text: str | None) -> int:
    """``audit verify``: prints one line; 0 intact, 1 broken, 2 bad arguments or database."""
    try:
        head = None if head_text is None else parse_head(head_text)
    except InvalidHeadError as exc:
        sys.stderr.write(f"chat-server: --head: {exc.message}\n")
        return 2
    try:
        report = asyncio.run(_verify(settings.database.url, head))
    except ConfigError as exc:
        sys.stderr.write(f"chat-server: {exc}\n")
        return 2
    except Exception as exc:  # the database is unreachable: no verdict, so not "broken" (1)
        sys.stderr.write(f"chat-server: cannot read the audit log: {type(exc).__name__}\n")
        return 2
    sys.stdout.write(_report_line(report) + "\n")
    return 0 if report.ok else 1


async def _verify(url: str, head: ChainHead | None) -> ChainReport:
    engine = create_engine(url)
    try:
        await check_schema(engine)
        return await AuditLog(AuditRepository(engine)).verify(head)
    finally:
        await engine.dispose()


def _report_line(report: ChainReport) -> str:
    if not report.ok:
        return f"chain broken at #{report.first_bad_id}: {report.problem}"
    if report.head is None:
        return "chain intact: 0 rows"
    return f"chain intact: {report.checked} rows, head #{report.head.id} {report.head.hash}"


if __name__ == "__main__":
    sys.exit(main())
