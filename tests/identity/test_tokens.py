"""Reading a token before its signature is checked: hostile shapes in every token the server reads
(access token, ID token, logout token) are refused as invalid_token, cheaply and quietly."""

import json
import logging
from collections.abc import Awaitable, Callable

import pytest

from server.identity import IdentityError, TokenVerifier, verify_logout_token
from tests.support.fake_idp import FakeIdP, b64url
from tests.support.hostile import deep_json, signed_compact

Check = Callable[[TokenVerifier, FakeIdP, str], Awaitable[object]]


async def _as_access_token(verifier: TokenVerifier, idp: FakeIdP, token: str) -> object:
    return await verifier.verify(token, idp.id_token())


async def _as_id_token(verifier: TokenVerifier, idp: FakeIdP, token: str) -> object:
    return await verifier.verify(idp.access_token(), token)


async def _as_logout_token(verifier: TokenVerifier, idp: FakeIdP, token: str) -> object:
    return await verify_logout_token(verifier.providers[0], token)


CHECKS: dict[str, tuple[Check, dict[str, object]]] = {
    "access token": (_as_access_token, {"typ": "at+jwt"}),
    "id token": (_as_id_token, {"typ": "JWT"}),
    "logout token": (_as_logout_token, {"typ": "logout+jwt"}),
}


def _claims(idp: FakeIdP, what: str) -> dict[str, object]:
    if what == "access token":
        return idp.claims()
    events: dict[str, object] = {"http://schemas.openid.net/event/backchannel-logout": {}}
    extra = {"events": events} if what == "logout token" else {"nonce": "n"}
    return idp.claims(aud=idp.client_id, scope=None, client_id=None, **extra)


async def _code(check: Check, verifier: TokenVerifier, idp: FakeIdP, token: str) -> str:
    with pytest.raises(IdentityError) as info:
        await check(verifier, idp, token)
    return info.value.code


@pytest.mark.parametrize("what", CHECKS)
async def test_each_token_kind_is_verified_by_its_check(
    idp: FakeIdP, verifier: TokenVerifier, what: str
) -> None:
    # The control for the tests below: the same bytes, not nested, are accepted.
    check, header = CHECKS[what]
    header_bytes = json.dumps({"alg": "RS256", "kid": "rsa-1", **header}).encode()
    token = signed_compact(header_bytes, json.dumps(_claims(idp, what)).encode(), idp.rsa)
    assert await check(verifier, idp, token) is not None


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize("part", ["header", "payload"])
@pytest.mark.parametrize("what", CHECKS)
async def test_json_nested_past_the_recursion_limit_is_an_invalid_token(
    idp: FakeIdP,
    verifier: TokenVerifier,
    caplog: pytest.LogCaptureFixture,
    what: str,
    part: str,
    signed: bool,
) -> None:
    check, header = CHECKS[what]
    header_bytes = json.dumps({"alg": "RS256", "kid": "rsa-1", **header}).encode()
    payload = json.dumps(_claims(idp, what)).encode()
    if part == "header":
        header_bytes = deep_json({"alg": "RS256", "kid": "rsa-1", **header})
    else:
        payload = deep_json(_claims(idp, what))
    token = signed_compact(header_bytes, payload, idp.rsa)
    if not signed:
        token = token.rsplit(".", 1)[0] + "." + b64url(b"not a signature")
    assert await _code(check, verifier, idp, token) == "invalid_token"
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


MINT: dict[str, Callable[[FakeIdP], str]] = {
    "access token": lambda idp: idp.access_token(padding="x" * 1_000_000),
    "id token": lambda idp: idp.id_token(padding="x" * 1_000_000),
    "logout token": lambda idp: idp.logout_token(padding="x" * 1_000_000),
}


@pytest.mark.parametrize("what", CHECKS)
async def test_a_megabyte_token_is_refused_before_it_is_decoded(
    idp: FakeIdP, verifier: TokenVerifier, what: str
) -> None:
    check, _ = CHECKS[what]
    huge = MINT[what](idp)  # validly signed: only its size refuses it
    assert await _code(check, verifier, idp, huge) == "invalid_token"
    if what != "id token":  # the ID token is read after the access token loaded the keys
        assert idp.jwks_fetches == 0


@pytest.mark.parametrize("header", [{"kid": 1}, {"kid": ["rsa-1"]}, {"typ": {"at": "jwt"}}])
async def test_a_kid_or_typ_that_is_not_a_string_is_refused(
    idp: FakeIdP, verifier: TokenVerifier, header: dict[str, object]
) -> None:
    # Validly signed by the provider's only RS256 key, which a kid-less lookup would pick.
    full = json.dumps({"alg": "RS256", "kid": "rsa-1", "typ": "at+jwt", **header}).encode()
    token = signed_compact(full, json.dumps(idp.claims()).encode(), idp.rsa)
    assert await _code(_as_access_token, verifier, idp, token) == "invalid_token"
