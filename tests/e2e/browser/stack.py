"""A real dev provider plus the real chat server that trusts it and serves the built SPA."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devidp.process import DevIdp
from tests.support.databases import migrated_database
from tests.support.live import LiveServer, dev_provider, free_port, make_settings


@dataclass(frozen=True)
class ChatStack:
    """The real dev provider and the real chat server (serving the SPA) that trusts it."""

    idp: DevIdp
    server: LiveServer

    @property
    def url(self) -> str:
        return self.server.url


@contextmanager
def chat_stack(
    spa_dist: Path, db_dir: Path, access_token_ttl: int = 600, **provider: Any
) -> Iterator[ChatStack]:
    """The stack; ``provider`` overrides keys of the dev provider's ``[[providers]]`` table."""
    # The chat port is chosen first: the provider's redirect URIs must name the chat origin.
    base_url = f"http://127.0.0.1:{free_port()}"
    with (
        DevIdp(
            port=0,
            redirect_uris=[f"{base_url}/callback"],
            post_logout_redirect_uris=[f"{base_url}/"],
            backchannel_logout_uri=f"{base_url}/oidc/backchannel-logout/dev",
            access_token_ttl=access_token_ttl,
        ) as idp,
        migrated_database("sqlite", db_dir) as database_url,
    ):
        settings = make_settings(
            database_url=database_url,
            providers=[dev_provider(idp.issuer, **provider)],
            allowed_origins=[base_url],
            static_dir=str(spa_dist),
        )
        with LiveServer(settings, port=int(base_url.rsplit(":", 1)[1])) as server:
            assert server.url == base_url
            yield ChatStack(idp, server)
