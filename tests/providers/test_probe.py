"""The admin's provider probe: each check passes or fails for its reason, no request goes where
it must not, and nothing escapes or lingers."""

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from server.identity import MAX_DOCUMENT_BYTES
from server.providers.probe import Check, ProbeReport, probe
from tests.support.fake_idp import FakeIdP, b64url

ISSUER = "https://idp.test"
DISCOVERY = "idp.test/.well-known/openid-configuration"
NAMES = (
    "issuer_url",
    "destination",
    "discovery",
    "issuer_match",
    "endpoints",
    "jwks",
    "key_count",
    "algorithms",
    "key_sizes",
    "pkce",
    "backchannel_logout",
)
COMPLETE = {
    "scopes_supported": ["openid", "profile", "email"],
    "claims_supported": ["sub", "name", "groups"],
    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    "code_challenge_methods_supported": ["S256"],
    "backchannel_logout_supported": True,
    "backchannel_logout_session_supported": True,
}
Answer = Callable[[httpx.Request], Awaitable[httpx.Response]]


def answer(status: int = 200, body: Any = None, **headers: str) -> Answer:
    async def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return respond


def slow(seconds: float, then: Answer | None = None) -> Answer:
    async def respond(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(seconds)
        return await (then or answer(404))(request)

    return respond


class Provider:
    """A FakeIdP with a complete discovery document; URLs (host + path) can be answered
    otherwise, and every request the transport saw is kept."""

    def __init__(self, issuer: str = ISSUER) -> None:
        self.idp = FakeIdP(issuer)
        self.changes: dict[str, Any] = dict(COMPLETE)
        self.answers: dict[str, Answer] = {}
        self.seen: list[httpx.URL] = []

    def document(self) -> dict[str, Any]:
        merged = {**self.idp.discovery(), **self.changes}
        return {k: v for k, v in merged.items() if v is not None}

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.url)
        custom = self.answers.get(f"{request.url.host}{request.url.path}")
        if custom is not None:
            return await custom(request)
        if request.url.path.endswith("/.well-known/openid-configuration"):
            self.idp.discovery_fetches += 1
            return httpx.Response(200, json=self.document())
        return self.idp.handle(request)

    def hosts(self) -> set[str]:
        return {url.host for url in self.seen}


class Resolver:
    """Names resolve to a public documentation address unless told otherwise."""

    def __init__(self) -> None:
        self.addresses: dict[str, list[str]] = {}
        self.failure: Exception | None = None
        self.delay = 0.0
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[tuple[Any, ...]]:
        self.lookups.append(host)
        await asyncio.sleep(self.delay)
        if self.failure is not None:
            raise self.failure
        found = self.addresses.get(host, ["203.0.113.7"])
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in found]


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def resolver() -> Resolver:
    return Resolver()


@pytest.fixture
async def http(provider: Provider) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(provider.handle)) as client:
        yield client


Probe = Callable[..., Coroutine[Any, Any, ProbeReport]]


@pytest.fixture
def run(http: httpx.AsyncClient, resolver: Resolver) -> Probe:
    async def run_probe(issuer: str = ISSUER, **options: Any) -> ProbeReport:
        return await probe(http, issuer, resolve=options.pop("resolve", resolver), **options)

    return run_probe


def checks(report: ProbeReport) -> dict[str, Check]:
    assert tuple(c.name for c in report.checks) == NAMES
    return {c.name: c for c in report.checks}


def failed(report: ProbeReport) -> set[str]:
    return {c.name for c in report.checks if not c.ok}


def weak_rsa_jwk(kid: str, bits: int = 1024) -> dict[str, str]:
    numbers = rsa.generate_private_key(65537, bits).public_key().public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    return {"kty": "RSA", "kid": kid, "use": "sig", "n": b64url(n), "e": b64url(b"\x01\x00\x01")}


async def test_a_good_provider_passes_every_check(run: Probe) -> None:
    report = await run()
    assert failed(report) == set()
    assert report.ok
    assert checks(report)["backchannel_logout"].severity == "warning"
    found = report.discovered
    assert found.authorization_endpoint == f"{ISSUER}/auth"
    assert found.token_endpoint == f"{ISSUER}/token"
    assert found.end_session_endpoint == f"{ISSUER}/session/end"
    assert found.scopes_supported == ("openid", "profile", "email")
    assert found.claims_supported == ("sub", "name", "groups")
    assert found.algorithms == ("RS256", "ES256")
    assert found.supports_pkce
    assert found.supports_backchannel_logout
    plain = json.loads(json.dumps(report.to_json()))
    assert plain["ok"] is True
    assert [c["name"] for c in plain["checks"]] == list(NAMES)
    assert plain["discovered"]["algorithms"] == ["RS256", "ES256"]


async def test_nothing_is_cached_between_probes(run: Probe, provider: Provider) -> None:
    await run()
    await run()
    assert provider.idp.discovery_fetches == 2
    assert provider.idp.jwks_fetches == 2


async def test_an_issuer_mismatch_fails_issuer_match(run: Probe, provider: Provider) -> None:
    provider.idp.discovery_issuer = ISSUER + "/"
    report = await run()
    assert failed(report) == {"issuer_match"}
    assert not report.ok


async def test_the_issuer_must_match_exactly_even_a_trailing_slash(
    run: Probe, provider: Provider
) -> None:
    report = await run(ISSUER + "/")
    assert failed(report) == {"issuer_match"}


@pytest.mark.parametrize(
    "issuer",
    [
        "http://idp.test",
        "http://10.0.0.5",
        "ftp://idp.test",
        "https://user:pw@idp.test",
        "https://idp.test?tenant=1",
        "https://idp.test#top",
        "https://idp.test:99999",
        "https://idp .test",
        "https://idp.test/\n",
        "",
        "idp.test",
    ],
)
async def test_a_bad_issuer_url_fails_before_any_lookup_or_request(
    run: Probe, provider: Provider, resolver: Resolver, issuer: str
) -> None:
    report = await run(issuer)
    by_name = checks(report)
    assert not by_name["issuer_url"].ok
    assert all(c.detail == "skipped: issuer_url" for c in report.checks[1:])
    assert not any(c.ok for c in report.checks)
    assert resolver.lookups == []
    assert provider.seen == []


async def test_plain_http_is_allowed_on_loopback_with_the_default_resolver() -> None:
    local = Provider("http://localhost:8080")
    async with httpx.AsyncClient(transport=httpx.MockTransport(local.handle)) as client:
        report = await probe(client, "http://localhost:8080")  # the running loop's getaddrinfo
    assert failed(report) == set()
    assert "127.0.0.1" in checks(report)["destination"].detail


async def test_a_redirected_discovery_is_refused_and_not_followed(
    run: Probe, provider: Provider
) -> None:
    provider.answers[DISCOVERY] = answer(302, Location="https://elsewhere.test/")
    report = await run()
    discovery = checks(report)["discovery"]
    assert not discovery.ok
    assert "redirect refused" in discovery.detail
    assert provider.hosts() == {"idp.test"}
    assert len(provider.seen) == 1


async def test_a_document_over_the_cap_fails_discovery(run: Probe, provider: Provider) -> None:
    provider.changes["padding"] = "x" * (MAX_DOCUMENT_BYTES + 1)
    report = await run()
    assert not checks(report)["discovery"].ok
    assert checks(report)["jwks"].detail == "skipped: discovery"


async def test_a_slow_provider_times_out_within_the_deadline(
    run: Probe, provider: Provider
) -> None:
    provider.answers[DISCOVERY] = slow(30)
    started = time.monotonic()
    report = await run(timeout_seconds=0.2)
    assert time.monotonic() - started < 0.4 + 0.3
    discovery = checks(report)["discovery"]
    assert not discovery.ok
    assert "timed out" in discovery.detail
    assert checks(report)["key_count"].detail == "skipped: discovery"


async def test_slow_steps_stop_at_the_total_deadline(
    run: Probe, provider: Provider, resolver: Resolver
) -> None:
    resolver.delay = 0.15  # each step fits 0.2 s, but four of them do not fit 0.4 s
    provider.answers[DISCOVERY] = slow(0.15, answer(200, provider.document()))
    started = time.monotonic()
    report = await run(timeout_seconds=0.2)
    assert time.monotonic() - started < 0.4 + 0.3
    assert failed(report) >= {"endpoints", "jwks"}
    assert checks(report)["discovery"].ok
    assert "deadline" in checks(report)["endpoints"].detail
    assert provider.idp.jwks_fetches == 0


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), -1.0, 0.0])
async def test_an_odd_timeout_is_clamped_not_raised(run: Probe, seconds: float) -> None:
    assert (await run(timeout_seconds=seconds)).ok


@pytest.mark.parametrize(
    ("jwks_uri", "resolves_to"),
    [
        ("https://169.254.169.254/latest/jwks", None),
        ("https://[::ffff:169.254.169.254]/jwks", None),
        ("https://[64:ff9b::a9fe:a9fe]/jwks", None),
        ("https://[fe80::1]/jwks", None),
        ("https://100.100.100.200/jwks", None),
        ("https://0.0.0.0/jwks", None),
        ("https://224.0.0.1/jwks", None),
        ("https://240.0.0.1/jwks", None),
        ("https://keys.test/jwks", ["203.0.113.9", "169.254.169.254"]),
    ],
)
async def test_a_jwks_uri_on_a_metadata_or_odd_address_is_never_fetched(
    run: Probe,
    provider: Provider,
    resolver: Resolver,
    jwks_uri: str,
    resolves_to: list[str] | None,
) -> None:
    provider.changes["jwks_uri"] = jwks_uri
    resolver.addresses["keys.test"] = resolves_to or []
    target = httpx.URL(jwks_uri)
    provider.answers[f"{target.host}{target.path}"] = answer(200, {"keys": provider.idp.published})
    report = await run()
    assert not checks(report)["endpoints"].ok
    assert checks(report)["jwks"].detail == "skipped: endpoints"
    assert provider.hosts() == {"idp.test"}


async def test_an_issuer_resolving_to_link_local_is_never_requested(
    run: Probe, provider: Provider, resolver: Resolver
) -> None:
    resolver.addresses["idp.test"] = ["169.254.169.254"]
    report = await run()
    assert not checks(report)["destination"].ok
    assert checks(report)["discovery"].detail == "skipped: destination"
    assert provider.seen == []


async def test_loopback_and_private_destinations_are_allowed(
    run: Probe, resolver: Resolver
) -> None:
    resolver.addresses["idp.test"] = ["127.0.0.1", "::1", "10.1.2.3"]
    assert (await run()).ok


@pytest.mark.parametrize("address", ["::ffff:127.0.0.1", "64:ff9b::cb00:7109"])
async def test_embedded_ipv4_addresses_are_judged_by_their_ipv4_address(
    run: Probe, resolver: Resolver, address: str
) -> None:
    resolver.addresses["idp.test"] = [address]  # IPv4-mapped loopback; NAT64 (DNS64 networks)
    assert (await run()).ok


@pytest.mark.parametrize("advertised", [["none", "HS256", "RS256"], ["HS512", "ES256"]])
async def test_hmac_and_none_advertised_are_flagged_beside_a_usable_algorithm(
    run: Probe, provider: Provider, advertised: list[str]
) -> None:
    provider.changes["id_token_signing_alg_values_supported"] = advertised
    report = await run()
    algorithms = checks(report)["algorithms"]
    assert algorithms.ok
    assert all(alg in algorithms.detail for alg in advertised if alg[:2] in {"no", "HS"})
    assert report.discovered.algorithms == tuple(a for a in advertised if a[:2] in {"RS", "ES"})


async def test_only_hmac_or_none_advertised_fails_algorithms(
    run: Probe, provider: Provider
) -> None:
    provider.changes["id_token_signing_alg_values_supported"] = ["HS256", "none"]
    report = await run()
    assert failed(report) == {"algorithms"}
    assert report.discovered.algorithms == ()


async def test_suggested_algorithms_put_the_defaults_first(run: Probe, provider: Provider) -> None:
    provider.idp.published.append({**provider.idp.rsa.as_dict(private=False), "kid": "rsa-any"})
    del provider.idp.published[-1]["alg"]  # a key without alg serves every RSA algorithm
    provider.changes["id_token_signing_alg_values_supported"] = ["PS384", "ES256", "RS256", "PS256"]
    report = await run()
    assert report.discovered.algorithms == ("RS256", "PS256", "ES256", "PS384")


async def test_requested_algorithms_must_be_offered(run: Probe) -> None:
    assert (await run(algorithms=["ES256"])).ok
    report = await run(algorithms=["PS512", "HS256"])
    assert failed(report) == {"algorithms"}
    assert report.discovered.algorithms == ("RS256", "ES256")


async def test_a_weak_rsa_key_is_named_by_its_kid(run: Probe, provider: Provider) -> None:
    provider.idp.published.append(weak_rsa_jwk("legacy-1024"))
    report = await run()
    assert failed(report) == {"key_sizes"}
    assert "legacy-1024" in checks(report)["key_sizes"].detail
    assert "rsa-1" not in checks(report)["key_sizes"].detail
    assert checks(report)["key_count"].detail.startswith("2 ")


async def test_odd_curves_shared_secrets_and_broken_keys_are_named(
    run: Probe, provider: Provider
) -> None:
    odd: list[Any] = [
        {"kty": "EC", "kid": "k1-curve", "crv": "secp256k1", "x": "AA", "y": "AA"},
        {"kty": "oct", "kid": "shared", "k": "c2VjcmV0"},
        {"kty": ["RSA"], "kid": "list-kty"},
        "not a key",
        {"kty": "RSA", "use": "enc", "kid": "encryption-only", "n": "AQAB", "e": "AQAB"},
    ]
    provider.answers["idp.test/jwks"] = answer(200, {"keys": [*provider.idp.published, *odd]})
    report = await run()
    detail = checks(report)["key_sizes"].detail
    assert failed(report) == {"key_sizes"}
    assert all(kid in detail for kid in ("k1-curve", "shared", "list-kty"))
    assert "encryption-only" not in detail
    assert checks(report)["key_count"].detail.startswith("2 ")


async def test_keys_that_verify_no_allowed_algorithm_fail_key_count(
    run: Probe, provider: Provider
) -> None:
    provider.idp.published[:] = [weak_rsa_jwk("small", 1024), {"kty": "oct", "k": "c2VjcmV0"}]
    report = await run()
    assert failed(report) == {"key_count", "algorithms", "key_sizes"}
    assert "key #2 (no kid)" in checks(report)["key_sizes"].detail


@pytest.mark.parametrize("methods", [["plain"], [], None])
async def test_no_s256_fails_pkce(
    run: Probe, provider: Provider, methods: list[str] | None
) -> None:
    provider.changes["code_challenge_methods_supported"] = methods
    report = await run()
    assert failed(report) == {"pkce"}
    assert not report.ok
    assert not report.discovered.supports_pkce


@pytest.mark.parametrize(
    "missing", ["backchannel_logout_supported", "backchannel_logout_session_supported"]
)
async def test_no_backchannel_logout_is_only_a_warning(
    run: Probe, provider: Provider, missing: str
) -> None:
    provider.changes[missing] = None
    report = await run()
    backchannel = checks(report)["backchannel_logout"]
    assert failed(report) == {"backchannel_logout"}
    assert backchannel.severity == "warning"
    assert report.ok
    assert report.to_json()["ok"] is True
    assert not report.discovered.supports_backchannel_logout


async def test_an_unresolvable_host_fails_destination_with_a_reason(
    run: Probe, provider: Provider, resolver: Resolver
) -> None:
    resolver.failure = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    report = await run()
    destination = checks(report)["destination"]
    assert not destination.ok
    assert "Name or service not known" in destination.detail
    assert provider.seen == []


async def test_an_unreachable_host_fails_discovery_with_a_reason() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the probe: nothing listens there
    async with httpx.AsyncClient() as client:
        report = await probe(client, f"http://127.0.0.1:{port}", timeout_seconds=2)
    discovery = checks(report)["discovery"]
    assert not discovery.ok
    assert discovery.detail.startswith("cannot connect")


@pytest.mark.parametrize("body", [[], ["issuer"], "issuer", 42, None, True])
async def test_json_that_is_not_an_object_fails_discovery(
    run: Probe, provider: Provider, body: Any
) -> None:
    provider.answers[DISCOVERY] = answer(200, body)
    report = await run()
    assert not checks(report)["discovery"].ok
    assert checks(report)["issuer_match"].detail == "skipped: discovery"


async def test_a_body_that_is_not_json_fails_discovery(run: Probe, provider: Provider) -> None:
    async def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>sign in</html>")

    provider.answers[DISCOVERY] = html
    assert "discovery" in failed(await run())


@pytest.mark.parametrize(
    "changes",
    [{"issuer": None}, {"issuer": 7}, {"scopes_supported": "openid"}, {"jwks_uri": ["x"]}],
)
async def test_a_document_with_wrong_types_fails_discovery(
    run: Probe, provider: Provider, changes: dict[str, Any]
) -> None:
    provider.changes.update(changes)
    report = await run()
    assert not checks(report)["discovery"].ok


@pytest.mark.parametrize(
    ("changes", "jwks_runs"),
    [
        ({"authorization_endpoint": None}, True),
        ({"token_endpoint": "http://idp.test/token"}, True),
        ({"jwks_uri": None}, False),
        ({"jwks_uri": "http://idp.test/jwks"}, False),
        ({"jwks_uri": "https://idp.test/jwks\r\nX: y"}, False),
    ],
)
async def test_a_missing_or_plain_http_endpoint_fails_endpoints(
    run: Probe, provider: Provider, changes: dict[str, Any], jwks_runs: bool
) -> None:
    provider.changes.update(changes)
    report = await run()
    assert not checks(report)["endpoints"].ok
    assert checks(report)["jwks"].ok is jwks_runs
    assert report.discovered.authorization_endpoint in (None, f"{ISSUER}/auth")


@pytest.mark.parametrize("body", [{"keys": []}, {"keys": {}}, {}, []])
async def test_an_empty_or_malformed_key_set_fails_jwks(
    run: Probe, provider: Provider, body: Any
) -> None:
    provider.answers["idp.test/jwks"] = answer(200, body)
    report = await run()
    assert failed(report) == {"jwks", "key_count", "algorithms", "key_sizes"}
    assert checks(report)["key_sizes"].detail == "skipped: jwks"


async def test_a_jwks_error_status_fails_jwks(run: Probe, provider: Provider) -> None:
    provider.answers["idp.test/jwks"] = answer(500, {"error": "boom"})
    assert failed(await run()) == {"jwks", "key_count", "algorithms", "key_sizes"}


async def test_later_checks_name_the_first_failure(run: Probe, provider: Provider) -> None:
    provider.answers[DISCOVERY] = answer(404, {"error": "not found"})
    report = await run()
    later = report.checks[NAMES.index("discovery") + 1 :]
    assert {c.detail for c in later} == {"skipped: discovery"}
    assert not any(c.ok for c in later)
    assert report.checks[-1].severity == "warning"


async def test_remote_text_is_never_echoed_at_length(run: Probe, provider: Provider) -> None:
    provider.idp.discovery_issuer = "https://evil.test/" + "A" * 5000
    provider.idp.published.append(weak_rsa_jwk("K" * 5000))
    provider.changes["code_challenge_methods_supported"] = ["P" * 5000] * 50
    report = await run()
    assert failed(report) == {"issuer_match", "key_sizes", "pkce"}
    assert all(len(c.detail) < 300 for c in report.checks)


async def test_an_unexpected_error_becomes_a_failed_check(run: Probe, provider: Provider) -> None:
    async def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug in a transport")

    provider.answers["idp.test/jwks"] = broken
    report = await run()
    assert failed(report) == {"jwks", "key_count", "algorithms", "key_sizes"}


async def test_cancellation_still_propagates(run: Probe, provider: Provider) -> None:
    provider.answers[DISCOVERY] = slow(30)
    task = asyncio.create_task(run(timeout_seconds=10))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
