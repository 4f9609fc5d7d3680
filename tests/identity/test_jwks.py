"""The per-provider key cache: TTLs, single flight, bounded refreshes, weak keys dropped, staleness."""

import asyncio
import warnings

import httpx
import pytest
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OctKey, RSAKey

from server.identity import TokenVerifier
from tests.identity.conftest import SlowProvider, provider_config, refused
from tests.support.clock import FakeClock
from tests.support.fake_idp import FakeIdP


async def test_rotated_key_costs_one_jwks_refresh(
    idp: FakeIdP, clock: FakeClock, verifier: TokenVerifier
) -> None:
    await verifier.verify(idp.access_token(), idp.id_token())
    idp.rotate_key()
    clock.advance(31)
    for sub in ("bob", "carol"):
        await verifier.verify(idp.access_token(sub=sub), idp.id_token(sub=sub))
    assert idp.jwks_fetches == 2


async def test_removed_key_is_refused_after_refresh(
    idp: FakeIdP, clock: FakeClock, verifier: TokenVerifier
) -> None:
    old_access, old_id = idp.access_token(), idp.id_token()
    await verifier.verify(old_access, old_id)
    idp.rotate_key()
    clock.advance(301)  # cache TTL (max-age=300) passes: the next use refetches
    await verifier.verify(idp.access_token(), idp.id_token())
    assert await refused(verifier, old_access, old_id) == "invalid_token"


async def test_random_kid_flood_fetches_at_most_once_per_interval(
    idp: FakeIdP, clock: FakeClock, verifier: TokenVerifier
) -> None:
    await verifier.verify(idp.access_token(), idp.id_token())
    tokens = [
        idp.sign(
            idp.claims(), key=RSAKey.generate_key(2048, parameters={"kid": f"k{i}"}), typ="at+jwt"
        )
        for i in range(3)
    ]
    clock.advance(31)
    for _ in range(20):
        for token in tokens:
            assert await refused(verifier, token, idp.id_token()) == "invalid_token"
    assert idp.jwks_fetches == 2  # the first load + one refresh for the whole flood


async def test_concurrent_first_use_fetches_once(
    idp: FakeIdP, slow: SlowProvider, slow_verifier: TokenVerifier
) -> None:
    # The provider answers after a real await, so all 20 verifications wait on the first fetch.
    tokens = [(idp.access_token(), idp.id_token()) for _ in range(20)]
    await asyncio.gather(*(slow_verifier.verify(access, id_token) for access, id_token in tokens))
    assert (idp.discovery_fetches, idp.jwks_fetches, slow.requests) == (1, 1, 2)


async def test_concurrent_connects_share_one_failed_fetch(
    idp: FakeIdP, slow: SlowProvider, slow_verifier: TokenVerifier
) -> None:
    idp.down = True
    tokens = [(idp.access_token(), idp.id_token()) for _ in range(10)]
    codes = await asyncio.gather(*(refused(slow_verifier, a, i) for a, i in tokens))
    assert codes == ["idp_unavailable"] * 10
    assert slow.requests == 1  # one discovery attempt for the whole burst
    idp.down = False  # the failure was shared, not kept
    assert (await slow_verifier.verify(*tokens[0])).subject == "alice"


@pytest.mark.parametrize("cache_control", ["max-age=5", "no-store", "no-cache, max-age=3600"])
async def test_cache_control_sets_the_ttl_within_bounds(
    idp: FakeIdP, clock: FakeClock, verifier: TokenVerifier, cache_control: str
) -> None:
    idp.jwks_cache_control = cache_control  # each means the 60 s floor
    await verifier.verify(idp.access_token(), idp.id_token())
    clock.advance(30)
    await verifier.verify(idp.access_token(), idp.id_token())
    assert idp.jwks_fetches == 1
    clock.advance(31)
    await verifier.verify(idp.access_token(), idp.id_token())
    assert idp.jwks_fetches == 2


async def test_symmetric_and_weak_keys_are_dropped(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    with warnings.catch_warnings():  # joserfc warns about the weak key we make on purpose
        warnings.simplefilter("ignore", SecurityWarning)
        weak = RSAKey.generate_key(1024, parameters={"kid": "weak"}, private=True)
    secret = OctKey.generate_key(256, parameters={"kid": "oct"})
    encryption = RSAKey.generate_key(2048, parameters={"kid": "enc"})  # published for "enc"
    idp.published = [
        *idp.published,
        weak.as_dict(private=False),
        secret.as_dict(private=True),
        {**encryption.as_dict(private=False), "use": "enc"},
    ]
    verifier = TokenVerifier.build([provider_config(idp)], http, clock)
    key_set = await verifier.providers[0].keys.get()
    assert {k.kid for k in key_set.keys} == {"rsa-1", "ec-1"}
    for key in (weak, encryption):
        token = idp.sign(idp.claims(), key=key, typ="at+jwt")
        assert await refused(verifier, token, idp.id_token()) == "invalid_token"


async def test_private_key_material_in_a_jwks_is_not_kept(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    idp.published = [idp.rsa.as_dict(private=True), idp.ec.as_dict(private=True)]  # a leak
    verifier = TokenVerifier.build([provider_config(idp)], http, clock)
    key_set = await verifier.providers[0].keys.get()
    assert len(key_set.keys) == 2
    assert not any(key.is_private for key in key_set.keys)


async def test_at_most_100_keys_of_a_jwks_are_used(
    idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    extra = [ECKey.generate_key("P-256", parameters={"kid": f"e{i}"}) for i in range(150)]
    idp.published = [*idp.published, *(key.as_dict(private=False) for key in extra)]
    verifier = TokenVerifier.build([provider_config(idp)], http, clock)
    assert len((await verifier.providers[0].keys.get()).keys) == 100


WINDOW_END = 300 + 3600  # max-age=300, then the default jwks_max_stale_seconds


async def test_every_connect_of_an_outage_is_served_until_max_staleness_and_none_after(
    idp: FakeIdP, clock: FakeClock, slow: SlowProvider, slow_verifier: TokenVerifier
) -> None:
    slow.delay = 0  # only counting requests here
    cache = slow_verifier.providers[0].keys
    await slow_verifier.verify(idp.access_token(), idp.id_token())  # keys loaded at second 0
    idp.down = True
    elapsed = 0
    # A connect every 7 s, several per retry interval (30 s), across the window and 200 s past it.
    for second in sorted({*range(7, WINDOW_END + 200, 7), WINDOW_END - 1, WINDOW_END}):
        clock.advance(second - elapsed)
        elapsed = second
        access, id_token = idp.access_token(key=idp.ec), idp.id_token(key=idp.ec)
        if second < WINDOW_END:
            assert (await slow_verifier.verify(access, id_token)).subject == "alice", second
        else:
            assert await refused(slow_verifier, access, id_token) == "idp_unavailable", second
        assert cache.available == (second < WINDOW_END), second  # /healthz says the same
        if second == WINDOW_END - 1:  # while stale keys serve, one retry per 30 s at most
            assert slow.requests <= 2 + 3600 / 30 + 1
    idp.down = False  # recovery needs no wait once the provider answers
    assert (await slow_verifier.verify(idp.access_token(), idp.id_token())).subject == "alice"
    assert cache.available


async def test_concurrent_connects_past_max_staleness_are_all_refused(
    idp: FakeIdP, clock: FakeClock, slow: SlowProvider, slow_verifier: TokenVerifier
) -> None:
    await slow_verifier.verify(idp.access_token(), idp.id_token())
    idp.down = True
    clock.advance(WINDOW_END)
    tokens = [(idp.access_token(), idp.id_token()) for _ in range(10)]
    codes = await asyncio.gather(*(refused(slow_verifier, a, i) for a, i in tokens))
    assert codes == ["idp_unavailable"] * 10  # none of the waiters got the expired keys
    assert slow.requests == 2 + 1  # the first load, then one shared attempt


async def test_unknown_kid_during_an_outage_gets_no_keys_past_max_staleness(
    idp: FakeIdP, clock: FakeClock, verifier: TokenVerifier
) -> None:
    await verifier.verify(idp.access_token(), idp.id_token())
    idp.down = True
    stranger = RSAKey.generate_key(2048, parameters={"kid": "new-key"})
    clock.advance(301)
    for _ in range(3):  # stale keys serve; the unknown kid's refresh fails or is not yet due
        token = idp.sign(idp.claims(), key=stranger, typ="at+jwt")
        assert await refused(verifier, token, idp.id_token()) == "invalid_token"
        assert (await verifier.verify(idp.access_token(), idp.id_token())).subject == "alice"
        clock.advance(30)
    clock.advance(WINDOW_END - 301 - 90 - 1)
    assert (await verifier.verify(idp.access_token(), idp.id_token())).subject == "alice"
    clock.advance(1)  # the window closes within the retry interval of that last attempt
    token = idp.sign(idp.claims(), key=stranger, typ="at+jwt")
    assert await refused(verifier, token, idp.id_token()) == "idp_unavailable"


async def test_failures_are_not_cached(idp: FakeIdP, verifier: TokenVerifier) -> None:
    idp.down = True
    for _ in range(2):
        assert await refused(verifier, idp.access_token(), idp.id_token()) == "idp_unavailable"
    idp.down = False
    assert (await verifier.verify(idp.access_token(), idp.id_token())).subject == "alice"


def test_a_key_whose_kty_is_not_a_string_is_dropped_not_a_crash() -> None:
    from server.identity.jwks import parse_key_set

    good = FakeIdP().rsa.as_dict(private=False)
    document = {"keys": [{"kty": ["RSA"], "kid": "odd"}, {"kty": {"a": 1}}, good]}
    assert [key.kid for key in parse_key_set(document, "p").keys] == [good["kid"]]


async def test_expired_keys_are_refetched_in_the_background_and_their_age_reported(
    idp: FakeIdP, clock: FakeClock, verifier: TokenVerifier
) -> None:
    await verifier.verify(idp.access_token(), idp.id_token())
    keys = verifier.providers[0].keys
    assert (idp.jwks_fetches, keys.status().seconds_since_keys) == (1, 0)
    clock.advance(100)
    await keys.refresh_if_due()  # max-age=300: not due
    assert (idp.jwks_fetches, keys.status().seconds_since_keys) == (1, 100)
    clock.advance(250)
    await keys.refresh_if_due()  # expired: fetched without any token asking
    assert (idp.jwks_fetches, keys.status().seconds_since_keys) == (2, 0)
    assert (keys.fetches_ok, keys.fetches_failed) == (2, 0)
    idp.down = True
    clock.advance(301)
    await keys.refresh_if_due()  # the outage is noticed (and kept), not raised
    status = keys.status()
    assert (status.state, status.seconds_since_keys, status.seconds_since_fetch) == (
        "stale",
        301,
        0,
    )
    assert keys.fetches_failed == 1
