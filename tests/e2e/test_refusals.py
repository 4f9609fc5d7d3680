"""Hostile connects against the real server and the real provider's keys: refused with their code,
nothing stored, and an observer in the room receives nothing."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws, jwt
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy import func, select

from devidp.process import DevIdp
from server.storage import create_engine
from server.storage.repository import MESSAGES, USERS
from tests.e2e.conftest import Accounts, ProviderKeys
from tests.support.clients import ChatClient, connected, refusal
from tests.support.databases import migrated_database
from tests.support.fake_idp import FakeIdP, unsigned_jwt
from tests.support.live import LiveServer, dev_provider, make_settings, serve_asgi

AUDIENCE = "urn:sso-chat:api"


@dataclass
class Hostile:
    """Everything a hostile case needs: the real provider's issuer and keys, a second provider."""

    issuer: str
    keys: ProviderKeys
    other: FakeIdP
    accounts: Accounts

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "u-mallory",
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "scope": "chat:read chat:write",
            "client_id": "chat-spa",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def access(self, *, key: RSAKey | None = None, typ: str = "at+jwt", **claims: Any) -> str:
        key = key or self.keys.rsa
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": typ}, self.claims(**claims), key)

    def id_token(self, **claims: Any) -> str:
        merged = {"aud": "chat-spa", "scope": None, "client_id": None, "nonce": "n", **claims}
        return jwt.encode(
            {"alg": "RS256", "kid": "dev-rs256"}, self.claims(**merged), self.keys.rsa
        )

    def auth(self, access: object, id_token: object | None = None) -> dict[str, object]:
        return {
            "access_token": access,
            "id_token": self.id_token() if id_token is None else id_token,
        }


def _hs256_with_public_key(h: Hostile) -> dict[str, object]:
    secret = OctKey.import_key(json.dumps(h.keys.rsa.as_dict(private=False)).encode())
    header = {"alg": "HS256", "kid": "dev-rs256", "typ": "at+jwt"}
    token = jws.serialize_compact(
        header, json.dumps(h.claims()).encode(), secret, algorithms=["HS256"]
    )
    return h.auth(token)


def _tampered(h: Hostile) -> dict[str, object]:
    header, _, signature = h.access().split(".")
    payload = unsigned_jwt({}, h.claims(sub="u-alice-0001")).split(".")[1]
    return h.auth(f"{header}.{payload}.{signature}")


def _header_key(h: Hostile, header: str) -> dict[str, object]:
    attacker = RSAKey.generate_key(2048, parameters={"kid": "dev-rs256"})
    values: dict[str, object] = {
        "jku": "http://127.0.0.1:9/attacker-jwks.json",
        "jwk": attacker.as_dict(private=False),
    }
    token = jwt.encode(
        {"alg": "RS256", "kid": "dev-rs256", "typ": "at+jwt", header: values[header]},
        h.claims(),
        attacker,
    )
    return h.auth(token)


def _real_tokens_of_two_users(h: Hostile) -> dict[str, object]:
    return {
        "access_token": h.accounts.tokens("alice").access_token,
        "id_token": h.accounts.tokens("bob").id_token,
    }


CASES: dict[str, tuple[Callable[[Hostile], object], str]] = {
    "no auth": (lambda h: None, "invalid_request"),
    "auth is a string": (lambda h: "Bearer x", "invalid_request"),
    "auth is a list": (lambda h: [1, 2], "invalid_request"),
    "no access token": (lambda h: {"id_token": h.id_token()}, "invalid_request"),
    "no id token": (lambda h: {"access_token": h.access()}, "invalid_request"),
    "access token not a string": (lambda h: h.auth(12345), "invalid_token"),
    "alg none": (
        lambda h: h.auth(unsigned_jwt({"alg": "none", "typ": "at+jwt"}, h.claims())),
        "invalid_token",
    ),
    "HS256 with the public key": (_hs256_with_public_key, "invalid_token"),
    "unknown kid": (
        lambda h: h.auth(h.access(key=RSAKey.generate_key(2048, parameters={"kid": "nope"}))),
        "invalid_token",
    ),
    "wrong iss": (lambda h: h.auth(h.access(iss="https://evil.test")), "unknown_issuer"),
    "wrong aud": (lambda h: h.auth(h.access(aud="urn:other")), "invalid_token"),
    "expired": (lambda h: h.auth(h.access(exp=int(time.time()) - 3600)), "token_expired"),
    "nbf in the future": (lambda h: h.auth(h.access(nbf=int(time.time()) + 3600)), "invalid_token"),
    "missing exp": (lambda h: h.auth(h.access(exp=None)), "invalid_token"),
    "missing scope": (lambda h: h.auth(h.access(scope="chat:read")), "insufficient_scope"),
    "tampered payload": (_tampered, "invalid_token"),
    "garbage": (lambda h: h.auth("garbage"), "invalid_token"),
    "truncated": (lambda h: h.auth(h.access()[:-20]), "invalid_token"),
    "oversized": (lambda h: h.auth(h.access(pad="x" * 20_000)), "invalid_token"),
    "id token as access token": (lambda h: h.auth(h.id_token()), "invalid_token"),
    "real id token as access token": (
        lambda h: h.auth(h.accounts.tokens("alice").id_token, h.accounts.tokens("alice").id_token),
        "invalid_token",
    ),
    "tokens of different subjects": (_real_tokens_of_two_users, "invalid_token"),
    "provider A key claiming provider B": (
        lambda h: {
            "access_token": jwt.encode(
                {"alg": "RS256", "kid": h.other.rsa.kid, "typ": "at+jwt"},
                h.other.claims(sub="u-mallory"),
                h.keys.rsa,
            ),
            "id_token": h.other.id_token(sub="u-mallory"),
        },
        "invalid_token",
    ),
    "jku header": (lambda h: _header_key(h, "jku"), "invalid_token"),
    "embedded jwk header": (lambda h: _header_key(h, "jwk"), "invalid_token"),
}


@pytest.fixture(scope="module")
def hostile_server(
    devidp: DevIdp, provider_keys: ProviderKeys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, FakeIdP]]:
    other = FakeIdP()
    with serve_asgi(other.asgi_app()) as other_server:
        other.issuer = other_server.url
        tmp: Path = tmp_path_factory.mktemp("hostile")
        with migrated_database("sqlite", tmp) as url:
            providers = [dev_provider(devidp.issuer), dev_provider(other.issuer, id="other")]
            with LiveServer(make_settings(database_url=url, providers=providers)) as live:
                yield live, other


@pytest.fixture
async def observer(
    hostile_server: tuple[LiveServer, FakeIdP], accounts: Accounts
) -> AsyncIterator[ChatClient]:
    client = await connected(hostile_server[0].url, accounts.auth("carol"))
    assert (await client.call("join", {"room": "general"}))["ok"]
    yield client
    await client.close()


async def counts(database_url: str) -> tuple[int, set[str]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            messages = (await conn.execute(select(func.count()).select_from(MESSAGES))).scalar_one()
            users = {row.subject for row in await conn.execute(select(USERS.c.subject))}
            return int(messages), users
    finally:
        await engine.dispose()


@pytest.mark.parametrize("case", sorted(CASES))
async def test_hostile_connect_is_refused_with_its_code(
    case: str,
    hostile_server: tuple[LiveServer, FakeIdP],
    provider_keys: ProviderKeys,
    accounts: Accounts,
    devidp: DevIdp,
    observer: ChatClient,
) -> None:
    server, other = hostile_server
    make_auth, code = CASES[case]
    hostile = Hostile(devidp.issuer, provider_keys, other, accounts)
    data = await refusal(server.url, make_auth(hostile))
    assert data["code"] == code
    assert isinstance(data["retryable"], bool)
    assert set(data) == {"code", "retryable"}  # nothing about which check failed
    await asyncio.sleep(0.1)
    assert observer.posted == []
    messages, users = await counts(server.settings.database.url)
    assert messages == 0
    assert "u-mallory" not in users
    assert "u-alice-0001" not in users


async def test_a_validly_signed_token_of_the_real_provider_is_accepted(
    hostile_server: tuple[LiveServer, FakeIdP],
    provider_keys: ProviderKeys,
    accounts: Accounts,
    devidp: DevIdp,
    observer: ChatClient,
) -> None:
    # The control case: the minting above is right, so each refusal is for the reason named.
    hostile = Hostile(devidp.issuer, provider_keys, hostile_server[1], accounts)
    client = await connected(hostile_server[0].url, hostile.auth(hostile.access()))
    try:
        ack = await client.call("send_message", {"room": "general", "text": "control"})
    finally:
        await client.close()
    assert ack["message"]["sender"]["subject"] == "u-mallory"
