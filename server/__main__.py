"""``chat-server [--config PATH] {serve,migrate,check-config,audit verify [--head ID:HASH]}``."""

import argparse
import asyncio
import logging
import sys

import uvicorn
from starlette.types import ASGIApp

from server.app import create_app
from server.audit import AuditLog, ChainHead, ChainReport, InvalidHeadError, parse_head
from server.config import Settings, load_settings
from server.errors import ConfigError
from server.storage import AuditRepository, check_schema, create_engine, upgrade

logger = logging.getLogger(__name__)

MAX_REQUEST_HEAD_BYTES = 32 * 1024  # request line + headers, as a reverse proxy allows


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
        server_header=False,
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
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"chat-server: {exc}\n")
        return 2
    logging.getLogger().setLevel(settings.server.log_level.upper())
    if args.command == "check-config":
        sys.stdout.write("configuration is valid\n")
        return 0
    if args.command == "migrate":
        upgrade(settings.database.url)
        logger.info("database is at the latest schema")
        return 0
    if args.command == "audit":
        return audit_verify(settings, args.head)
    server = uvicorn.Server(uvicorn_config(settings, create_app(settings)))
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
