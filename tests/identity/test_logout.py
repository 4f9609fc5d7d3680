"""Logout tokens (OIDC Back-Channel Logout 1.0, section 2.6) checked on their own."""

from typing import Any

import pytest

from server.identity import IdentityError, TokenVerifier, verify_logout_token
from tests.support.fake_idp import FakeIdP


async def _code(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(IdentityError) as info:
        await verify_logout_token(verifier.providers[0], token)
    return info.value.code


async def test_a_valid_logout_token_names_its_session(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    request = await verify_logout_token(
        verifier.providers[0], idp.logout_token(sub="alice", sid="s-1", jti="j-1")
    )
    assert (request.provider_id, request.subject, request.session_id) == ("fake", "alice", "s-1")
    assert request.jti == "j-1"


async def test_a_logout_token_of_another_issuer_costs_no_key_fetch(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    assert await _code(verifier, idp.logout_token(iss="https://evil.test")) == "invalid_token"
    assert idp.jwks_fetches == 0


@pytest.mark.parametrize(
    "dates",
    [{"iat": -(10**400)}, {"iat": -(10**11)}, {"exp": 10**400}, {"exp": 253402300800}],
    ids=["iat past a float", "iat before year 1", "exp past a float", "exp in year 10000"],
)
async def test_dates_no_datetime_can_hold_are_refused(
    idp: FakeIdP, verifier: TokenVerifier, dates: dict[str, Any]
) -> None:
    assert await _code(verifier, idp.logout_token(**dates)) == "invalid_token"
