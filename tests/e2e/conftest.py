"""End-to-end fixtures: the real dev identity provider (Node), real sign-ins, the real server."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from joserfc.jwk import ECKey, RSAKey

from devidp.process import DevIdp
from devidp.signin import Tokens, sign_in
from tests.support.databases import migrated_database
from tests.support.live import LiveServer, dev_provider, make_settings

PASSWORDS = {
    "alice": "alice-password",
    "bob": "bob-password",
    "carol": "carol-password",
    "dana": "dana-password",
}


@dataclass(frozen=True)
class ProviderKeys:
    """The dev provider's private keys: the tests hold them to mint hostile, validly signed tokens."""

    rsa: RSAKey
    ec: ECKey
    path: Path


@pytest.fixture(scope="session")
def provider_keys(tmp_path_factory: pytest.TempPathFactory) -> ProviderKeys:
    rsa = RSAKey.generate_key(2048, parameters={"kid": "dev-rs256", "alg": "RS256", "use": "sig"})
    ec = ECKey.generate_key("P-256", parameters={"kid": "dev-es256", "alg": "ES256", "use": "sig"})
    path = tmp_path_factory.mktemp("devidp") / "keys.json"
    path.write_text(json.dumps({"keys": [rsa.as_dict(private=True), ec.as_dict(private=True)]}))
    return ProviderKeys(rsa, ec, path)


@pytest.fixture(scope="session")
def devidp(provider_keys: ProviderKeys) -> Iterator[DevIdp]:
    with DevIdp(keys_path=provider_keys.path) as idp:
        yield idp


class Accounts:
    """Real sign-ins through the authorization-code + PKCE flow, one per user per session."""

    def __init__(self, issuer: str) -> None:
        self._issuer = issuer
        self._tokens: dict[str, Tokens] = {}

    def tokens(self, user: str) -> Tokens:
        if user not in self._tokens:
            self._tokens[user] = sign_in(self._issuer, user, PASSWORDS[user])
        return self._tokens[user]

    def auth(self, user: str) -> dict[str, str]:
        tokens = self.tokens(user)
        return {"access_token": tokens.access_token, "id_token": tokens.id_token}


@pytest.fixture(scope="session")
def accounts(devidp: DevIdp) -> Accounts:
    return Accounts(devidp.issuer)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    with migrated_database("sqlite", tmp_path) as url:
        yield url


@pytest.fixture
def server(devidp: DevIdp, sqlite_url: str) -> Iterator[LiveServer]:
    settings = make_settings(database_url=sqlite_url, providers=[dev_provider(devidp.issuer)])
    with LiveServer(settings) as live:
        yield live
