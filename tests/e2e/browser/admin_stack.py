"""The admin console's stack: two real dev providers and the chat server that trusts the first.

The second provider is running but absent from the configuration file: an admin adds it at
runtime through the console. Its redirect URIs name the same chat origin, so once added it signs
users in to the same chat.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devidp.process import DevIdp
from tests.e2e.browser.stack import ChatStack
from tests.support.databases import migrated_database
from tests.support.live import LiveServer, dev_provider, free_port, make_settings

ADMIN_GROUP = "chat-admins"
# Short intervals so changes reach live sessions and the users list within a fraction of a second.
SYNC_SECONDS = 0.2
PRESENCE_SECONDS = 0.2


@dataclass(frozen=True)
class AdminStack:
    """The file's dev provider and the chat server (as a ``ChatStack``), plus a second provider."""

    chat: ChatStack
    second: DevIdp

    @property
    def url(self) -> str:
        return self.chat.url


def _dev_idp(base_url: str, provider_id: str) -> DevIdp:
    return DevIdp(
        port=0,
        redirect_uris=[f"{base_url}/callback"],
        post_logout_redirect_uris=[f"{base_url}/"],
        backchannel_logout_uri=f"{base_url}/oidc/backchannel-logout/{provider_id}",
    )


@contextmanager
def admin_stack(spa_dist: Path, db_dir: Path, second_id: str = "second") -> Iterator[AdminStack]:
    """The stack; ``second_id`` is the id the admin will give the second provider."""
    # The chat port is chosen first: both providers' redirect URIs must name the chat origin.
    base_url = f"http://127.0.0.1:{free_port()}"
    with (
        _dev_idp(base_url, "dev") as idp,
        _dev_idp(base_url, second_id) as second,
        migrated_database("sqlite", db_dir) as database_url,
    ):
        settings = make_settings(
            database_url=database_url,
            providers=[dev_provider(idp.issuer)],
            allowed_origins=[base_url],
            static_dir=str(spa_dist),
            admin={"groups": [ADMIN_GROUP], "sync_seconds": SYNC_SECONDS},
            sessions={"presence_seconds": PRESENCE_SECONDS},
        )
        with LiveServer(settings, port=int(base_url.rsplit(":", 1)[1])) as server:
            assert server.url == base_url
            yield AdminStack(ChatStack(idp, server), second)
