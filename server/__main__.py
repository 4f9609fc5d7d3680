"""``chat-server [--config PATH] {serve,migrate,check-config}``."""

import argparse
import logging
import sys

import uvicorn
from starlette.types import ASGIApp

from server.app import create_app
from server.config import Settings, load_settings
from server.errors import ConfigError
from server.storage import upgrade

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chat-server", description=__doc__)
    parser.add_argument(
        "--config", help="TOML config file (default: $CHAT_CONFIG or config/dev.toml)"
    )
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "migrate", "check-config"]
    )
    args = parser.parse_args(argv)
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
    server = uvicorn.Server(uvicorn_config(settings, create_app(settings)))
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
