"""The verifier against hand-minted tokens: every hostile shape is refused with its code."""

import hashlib
import json
import time
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import ECKey, OctKey, RSAKey

from server.identity import (
    IdpUnavailableError,
    InsufficientScopeError,
    InvalidRequestError,
    InvalidTokenError,
    TokenExpiredError,
    TokenVerifier,
    UnknownIssuerError,
)
from tests.identity.conftest import provider_config, refused
from tests.support.clock import FakeClock
from tests.support.fake_idp import FakeIdP, b64url, unsigned_jwt


async def test_valid_tokens_yield_the_verified_identity(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    identity = await verifier.verify(
        idp.access_token(sub="u-1", sid="s-9"), idp.id_token(sub="u-1", sid="s-9", name="Al")
    )
    assert identity.issuer == idp.issuer
    assert identity.subject == "u-1"
    assert identity.name == "Al"
    assert identity.groups == frozenset({"staff"})
    assert identity.session_id == "s-9"
    assert identity.provider_id == "fake"


async def test_es256_tokens_verify(idp: FakeIdP, verifier: TokenVerifier) -> None:
    identity = await verifier.verify(idp.access_token(key=idp.ec), idp.id_token(key=idp.ec))
    assert identity.subject == "alice"


async def test_alg_none_is_refused(idp: FakeIdP, verifier: TokenVerifier) -> None:
    token = unsigned_jwt({"alg": "none", "typ": "at+jwt"}, idp.claims())
    assert await refused(verifier, token, idp.id_token()) == "invalid_token"


async def test_hs256_signed_with_the_public_key_is_refused(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    # The classic confusion attack: the public key's bytes used as an HMAC secret.
    secret = OctKey.import_key(json.dumps(idp.rsa.as_dict(private=False)).encode())
    token = jws.serialize_compact(
        {"alg": "HS256", "kid": "rsa-1", "typ": "at+jwt"},
        json.dumps(idp.claims()).encode(),
        secret,
        algorithms=["HS256"],
    )
    assert await refused(verifier, token, idp.id_token()) == "invalid_token"


async def test_unknown_kid_is_refused(idp: FakeIdP, verifier: TokenVerifier) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "attacker"})
    token = idp.sign(idp.claims(), key=stranger, typ="at+jwt")
    assert await refused(verifier, token, idp.id_token()) == "invalid_token"


async def test_kid_of_a_real_key_with_a_foreign_signature_is_refused(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    token = idp.sign(idp.claims(), key=stranger, typ="at+jwt")
    assert await refused(verifier, token, idp.id_token()) == "invalid_token"


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"iss": "https://evil.test"}, "unknown_issuer"),
        ({"aud": "urn:other-api"}, "invalid_token"),
        ({"exp": int(time.time()) - 3600}, "token_expired"),
        ({"nbf": int(time.time()) + 3600}, "invalid_token"),
        ({"iat": int(time.time()) + 3600}, "invalid_token"),
        ({"exp": None}, "invalid_token"),
        ({"iat": None}, "invalid_token"),
        ({"sub": None}, "invalid_token"),
        ({"sub": ""}, "invalid_token"),
        ({"sub": 42}, "invalid_token"),
        ({"exp": "tomorrow"}, "invalid_token"),
        ({"exp": 10**400}, "invalid_token"),  # a JSON number no float holds
        ({"exp": 253402300800}, "invalid_token"),  # year 10000
        ({"iat": -(10**400)}, "invalid_token"),
        ({"nbf": -1}, "invalid_token"),
        ({"scope": "openid chat:read"}, "insufficient_scope"),
        ({"scope": None}, "insufficient_scope"),
    ],
)
async def test_bad_access_token_claims_are_refused(
    idp: FakeIdP, verifier: TokenVerifier, claims: dict[str, Any], code: str
) -> None:
    assert await refused(verifier, idp.access_token(**claims), idp.id_token()) == code


async def test_issuer_list_claim_is_not_an_issuer(idp: FakeIdP, verifier: TokenVerifier) -> None:
    token = idp.access_token(iss=[idp.issuer, "https://evil.test"])
    assert await refused(verifier, token, idp.id_token()) == "unknown_issuer"


async def test_leeway_accepts_slight_expiry(idp: FakeIdP, verifier: TokenVerifier) -> None:
    token = idp.access_token(exp=int(time.time()) - 30)
    assert (await verifier.verify(token, idp.id_token())).subject == "alice"


async def test_tampered_payload_is_refused(idp: FakeIdP, verifier: TokenVerifier) -> None:
    header, _, signature = idp.access_token().split(".")
    forged = b64url(json.dumps(idp.claims(sub="admin")).encode())
    assert (
        await refused(verifier, f"{header}.{forged}.{signature}", idp.id_token()) == "invalid_token"
    )


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "....",
        "e30.e30.",
        "W10.e30.abc",
        "e30.W10.abc",
        "e30=.e30.abc",
        "e30.e+0.abc",
        "e3 0.e30.abc",
        42,
        ["x"],
        {},
    ],
)
async def test_garbage_tokens_are_refused(
    idp: FakeIdP, verifier: TokenVerifier, garbage: object
) -> None:
    assert await refused(verifier, garbage, idp.id_token()) == "invalid_token"


async def test_an_id_token_alone_is_refused_where_an_access_token_is_required(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    assert await refused(verifier, None, idp.id_token()) == "invalid_request"


async def test_truncated_token_is_refused(idp: FakeIdP, verifier: TokenVerifier) -> None:
    assert await refused(verifier, idp.access_token()[:-10], idp.id_token()) == "invalid_token"


async def test_oversized_token_is_refused_before_any_fetch(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    token = idp.access_token(padding="x" * 20_000)
    assert await refused(verifier, token, idp.id_token()) == "invalid_token"
    assert idp.jwks_fetches == 0


async def test_id_token_sent_as_access_token_is_refused(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    assert await refused(verifier, idp.id_token(), idp.id_token()) == "invalid_token"


async def test_id_token_with_api_audience_is_still_not_an_access_token(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    forged = idp.sign(idp.claims(nonce="n", typ=None), typ="JWT")
    assert await refused(verifier, forged, idp.id_token()) == "invalid_token"


async def test_access_token_with_wrong_typ_is_refused(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    token = idp.access_token(typ="logout+jwt")
    assert await refused(verifier, token, idp.id_token()) == "invalid_token"


async def test_tokens_naming_different_subjects_are_refused(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    assert (
        await refused(verifier, idp.access_token(sub="alice"), idp.id_token(sub="bob"))
        == "invalid_token"
    )


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "someone-else"},
        {"aud": ["chat-spa", "other"]},
        {"azp": "other"},
        {"exp": int(time.time()) - 3600},
        {"iss": "https://evil.test"},
    ],
)
async def test_bad_id_tokens_are_refused(
    idp: FakeIdP, verifier: TokenVerifier, claims: dict[str, Any]
) -> None:
    code = await refused(verifier, idp.access_token(), idp.id_token(**claims))
    assert code in {"invalid_token", "token_expired"}
    assert code == ("token_expired" if "exp" in claims else "invalid_token")


@pytest.mark.parametrize("typ", ["at+jwt", "logout+jwt"])
async def test_id_token_with_another_tokens_typ_is_refused(
    idp: FakeIdP, verifier: TokenVerifier, typ: str
) -> None:
    claims = idp.claims(aud=idp.client_id, scope=None, client_id=None, nonce="n")
    id_token = idp.sign(claims, typ=typ)
    assert await refused(verifier, idp.access_token(), id_token) == "invalid_token"


async def test_a_key_published_for_rs256_does_not_verify_ps256(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    # The same RSA key, the same kid, another algorithm than the JWKS names for it.
    same_key = RSAKey.import_key({**idp.rsa.as_dict(private=True), "alg": "PS256"})
    header = {"alg": "PS256", "kid": "rsa-1", "typ": "at+jwt"}
    payload = json.dumps(idp.claims()).encode()
    token = jws.serialize_compact(header, payload, same_key, algorithms=["PS256"])
    assert await refused(verifier, token, idp.id_token()) == "invalid_token"


async def test_a_token_without_kid_verifies_only_with_an_unambiguous_key(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    verifier = TokenVerifier.build([provider_config(idp)], http, clock)
    kidless = idp.sign(idp.claims(), kid=None, typ="at+jwt")
    assert (await verifier.verify(kidless, idp.id_token())).subject == "alice"
    second = RSAKey.generate_key(2048, parameters={"kid": "rsa-2", "alg": "RS256"})
    idp.published = [*idp.published, second.as_dict(private=False)]  # two RS256 keys now
    verifier = TokenVerifier.build([provider_config(idp)], http, clock)
    token = idp.sign(idp.claims(), kid=None, typ="at+jwt")  # signed by the first of them
    assert await refused(verifier, token, idp.id_token()) == "invalid_token"


async def test_multiple_audiences_with_our_azp_are_accepted(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    id_token = idp.id_token(aud=["chat-spa", "other"], azp="chat-spa")
    assert (await verifier.verify(idp.access_token(), id_token)).subject == "alice"


async def test_at_hash_must_match_the_access_token(idp: FakeIdP, verifier: TokenVerifier) -> None:
    access = idp.access_token()
    digest = hashlib.sha256(access.encode()).digest()
    good = b64url(digest[:16])
    assert (await verifier.verify(access, idp.id_token(at_hash=good))).subject == "alice"
    assert (
        await refused(verifier, idp.access_token(), idp.id_token(at_hash=good)) == "invalid_token"
    )


async def test_missing_id_token_is_an_invalid_request(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    assert await refused(verifier, idp.access_token(), None) == "invalid_request"


async def test_id_token_optional_when_the_provider_says_so(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    verifier = TokenVerifier.build([provider_config(idp, require_id_token=False)], http, clock)
    assert (await verifier.verify(idp.access_token(), None)).subject == "alice"


@pytest.mark.parametrize("header", ["jku", "x5u", "jwk", "x5c"])
async def test_key_carrying_headers_are_never_followed(
    idp: FakeIdP, verifier: TokenVerifier, header: str
) -> None:
    attacker = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    values: dict[str, Any] = {
        "jku": "http://127.0.0.1:1/attacker-jwks",
        "x5u": "http://127.0.0.1:1/cert",
        "jwk": attacker.as_dict(private=False),
        "x5c": ["MIIB"],
    }
    token = idp.sign(idp.claims(), key=attacker, typ="at+jwt", **{header: values[header]})
    assert await refused(verifier, token, idp.id_token()) == "invalid_token"
    # the real key's signature with such a header is refused too: we never mix in header keys
    token = idp.sign(idp.claims(), typ="at+jwt", **{header: values[header]})
    assert await refused(verifier, token, idp.id_token()) == "invalid_token"


async def test_algorithm_outside_the_allow_list_is_refused(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    verifier = TokenVerifier.build([provider_config(idp, algorithms=["ES256"])], http, clock)
    token = idp.access_token()  # RS256
    assert await refused(verifier, token, idp.id_token(key=idp.ec)) == "invalid_token"


async def test_provider_a_key_cannot_sign_for_provider_b(clock: FakeClock) -> None:
    a, b = FakeIdP("https://a.test"), FakeIdP("https://b.test")
    b.rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})  # colliding kid
    b.published = [b.rsa.as_dict(private=False)]
    routes = {"a.test": a, "b.test": b}
    transport = httpx.MockTransport(lambda r: routes[r.url.host].handle(r))
    async with httpx.AsyncClient(transport=transport) as http:
        verifier = TokenVerifier.build(
            [provider_config(a, id="a"), provider_config(b, id="b")], http, clock
        )
        forged = a.sign(b.claims(), key=a.rsa, typ="at+jwt")  # A's key, B's issuer
        assert await refused(verifier, forged, b.id_token()) == "invalid_token"
        assert (await verifier.verify(b.access_token(), b.id_token())).provider_id == "b"


async def test_unreachable_provider_fails_closed(idp: FakeIdP, verifier: TokenVerifier) -> None:
    idp.down = True
    assert await refused(verifier, idp.access_token(), idp.id_token()) == "idp_unavailable"


async def test_discovery_with_another_issuer_fails_closed(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    idp.discovery_issuer = "https://evil.test"
    assert await refused(verifier, idp.access_token(), idp.id_token()) == "idp_unavailable"


async def test_error_classes_carry_their_codes() -> None:
    assert InvalidRequestError.code == "invalid_request"
    assert InvalidTokenError.code == "invalid_token"
    assert TokenExpiredError.code == "token_expired"
    assert UnknownIssuerError.code == "unknown_issuer"
    assert InsufficientScopeError.code == "insufficient_scope"
    assert IdpUnavailableError.code == "idp_unavailable"
    assert IdpUnavailableError.retryable
    assert not InvalidTokenError.retryable


async def test_es256_signature_of_another_key_or_length_is_refused(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    stranger = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
    forged = idp.sign(idp.claims(), key=stranger, typ="at+jwt")
    assert await refused(verifier, forged, idp.id_token()) == "invalid_token"
    header, payload, _ = idp.access_token(key=idp.ec).split(".")
    assert (
        await refused(verifier, f"{header}.{payload}.{b64url(b'x' * 10)}", idp.id_token())
        == "invalid_token"
    )


async def test_padded_base64_of_a_valid_token_is_refused(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    header, payload, signature = idp.access_token().split(".")
    assert (
        await refused(verifier, f"{header}.{payload}.{signature}==", idp.id_token())
        == "invalid_token"
    )


@pytest.mark.parametrize("claim", ["sub", "sid"])
async def test_a_subject_or_session_id_longer_than_the_database_holds_is_refused(
    idp: FakeIdP, verifier: TokenVerifier, claim: str
) -> None:
    # Accepted at connect, it would make every message of that user fail on PostgreSQL.
    fits: dict[str, Any] = {claim: "s" * 255}
    long: dict[str, Any] = {claim: "s" * 256}
    identity = await verifier.verify(idp.access_token(**fits), idp.id_token(**fits))
    assert (identity.subject if claim == "sub" else identity.session_id) == "s" * 255
    assert (
        await refused(verifier, idp.access_token(**long), idp.id_token(**long)) == "invalid_token"
    )
