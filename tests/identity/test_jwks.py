"""The per-provider key cache: TTLs, single flight, bounded refreshes, weak keys dropped, staleness."""

import asyncio
import warnings

import httpx
from joserfc.errors import SecurityWarning
from joserfc.jwk import OctKey, RSAKey

from server.identity import TokenVerifier
from tests.identity.conftest import provider_config, refused
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


async def test_concurrent_first_use_fetches_once(idp: FakeIdP, verifier: TokenVerifier) -> None:
    await asyncio.gather(*(verifier.verify(idp.access_token(), idp.id_token()) for _ in range(20)))
    assert idp.jwks_fetches == 1
    assert idp.discovery_fetches == 1


async def test_cache_control_sets_the_ttl_within_bounds(
    idp: FakeIdP, clock: FakeClock, verifier: TokenVerifier
) -> None:
    idp.jwks_cache_control = "max-age=5"  # below the 60 s floor
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
    idp.published = [*idp.published, weak.as_dict(private=False), secret.as_dict(private=True)]
    verifier = TokenVerifier.build([provider_config(idp)], http, clock)
    key_set = await verifier.providers[0].keys.get()
    assert {k.kid for k in key_set.keys} == {"rsa-1", "ec-1"}
    token = idp.sign(idp.claims(), key=weak, typ="at+jwt")
    assert await refused(verifier, token, idp.id_token()) == "invalid_token"


async def test_cached_keys_survive_an_outage_until_max_staleness(
    idp: FakeIdP, clock: FakeClock, verifier: TokenVerifier
) -> None:
    await verifier.verify(idp.access_token(), idp.id_token())
    idp.down = True
    clock.advance(301 + 1800)  # expired, but within the default 3600 s staleness
    assert (await verifier.verify(idp.access_token(), idp.id_token())).subject == "alice"
    clock.advance(3600)
    assert await refused(verifier, idp.access_token(), idp.id_token()) == "idp_unavailable"
    idp.down = False
    clock.advance(31)
    assert (await verifier.verify(idp.access_token(), idp.id_token())).subject == "alice"


async def test_failures_are_not_cached(idp: FakeIdP, verifier: TokenVerifier) -> None:
    idp.down = True
    for _ in range(2):
        assert await refused(verifier, idp.access_token(), idp.id_token()) == "idp_unavailable"
    idp.down = False
    assert (await verifier.verify(idp.access_token(), idp.id_token())).subject == "alice"
