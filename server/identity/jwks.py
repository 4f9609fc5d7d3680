"""Per-provider signing keys: discovery, then ``jwks_uri``; cached, single-flight, never a failure cached."""

import asyncio
import base64
import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from server.config import ProviderConfig
from server.identity.clock import Clock
from server.identity.errors import IdpUnavailableError
from server.identity.providers import ProviderMetadata, discover, fetch_json

logger = logging.getLogger(__name__)

PublicKey = RSAKey | ECKey | OKPKey
MIN_RSA_BITS = 2048
MAX_KEYS = 100
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
_KTY_FOR_ALG = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


@dataclass(frozen=True, slots=True)
class KeySet:
    """The usable signing keys of one provider."""

    keys: tuple[PublicKey, ...]

    def find(self, kid: str | None, alg: str) -> PublicKey | None:
        """The key for a token header; without ``kid`` only an unambiguous key is returned."""
        kty = _KTY_FOR_ALG.get(alg[:2])
        candidates = [
            key
            for key in self.keys
            if key.key_type == kty
            and key.get("alg") in (None, alg)
            and (kid is None or key.kid == kid)
        ]
        return candidates[0] if len(candidates) == 1 else None

    def has_kid(self, kid: str | None) -> bool:
        return kid is not None and any(key.kid == kid for key in self.keys)


def parse_key_set(document: Any, provider_id: str) -> KeySet:
    """Keep the keys that may verify signatures; drop symmetric, weak, encryption-only and bad ones."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise IdpUnavailableError(f"provider {provider_id}: JWKS is not a key set")
    keys: list[PublicKey] = []
    for raw in document["keys"][:MAX_KEYS]:
        key = _import_public_key(raw, provider_id)
        if key is not None:
            keys.append(key)
    return KeySet(tuple(keys))


def _import_public_key(raw: Any, provider_id: str) -> PublicKey | None:
    if not isinstance(raw, dict) or raw.get("use", "sig") != "sig":
        return None
    kty = raw.get("kty")
    if not isinstance(kty, str) or kty not in {
        "RSA",
        "EC",
        "OKP",
    }:  # "oct" (shared secrets) never verifies a provider's token
        logger.warning("provider %s: ignoring JWKS key of type %r", provider_id, kty)
        return None
    if kty == "RSA" and _rsa_bits(raw.get("n")) < MIN_RSA_BITS:
        logger.warning(
            "provider %s: ignoring RSA key %r under %d bits",
            provider_id,
            raw.get("kid"),
            MIN_RSA_BITS,
        )
        return None
    public = {k: v for k, v in raw.items() if k not in {"d", "p", "q", "dp", "dq", "qi", "oth"}}
    try:
        key = JWKRegistry.import_key(public)
    except (JoseError, ValueError, TypeError) as exc:
        logger.warning(
            "provider %s: ignoring unusable JWKS key: %s", provider_id, type(exc).__name__
        )
        return None
    assert isinstance(key, RSAKey | ECKey | OKPKey)
    return key


def _rsa_bits(modulus: object) -> int:
    if not isinstance(modulus, str):
        return 0
    try:
        raw = base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))
    except ValueError:
        return 0
    return int.from_bytes(raw, "big").bit_length()


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """``state``: ok | stale (served past their TTL) | unavailable | not_fetched."""

    state: str
    key_count: int
    seconds_since_fetch: float | None  # since the last attempt, whatever its outcome
    seconds_since_keys: float | None = None  # since the keys held were fetched


class JwksCache:
    """The keys of ONE provider, so one provider's keys never verify another's tokens.

    Fetches are single-flight: callers that wait while a fetch runs share its outcome, success or
    failure, and a failure is never kept beyond that flight. The TTL comes from
    ``Cache-Control: max-age`` clamped to the provider's bounds. While the provider is down,
    expired keys are served for ``jwks_max_stale_seconds`` past their TTL (refetched at most once
    per retry interval), and never after that. An unknown ``kid`` forces at most one refresh per
    ``jwks_min_refresh_interval_seconds``, measured from the last fetch.
    """

    def __init__(self, provider: ProviderConfig, http: httpx.AsyncClient, clock: Clock) -> None:
        self._provider = provider
        self._http = http
        self._clock = clock
        self._lock = asyncio.Lock()
        self._metadata: ProviderMetadata | None = None
        self._keys: KeySet | None = None
        self._expires_at = 0.0
        self._last_fetch = float("-inf")
        self._fetched_keys_at: float | None = None
        self._flights = 0  # fetches that ended in keys or a failure: a waiter shares the last
        self._last_failed = False
        self._serving_stale = False
        self._retry_interval = max(provider.jwks_min_refresh_interval_seconds, 1.0)
        self.fetches_ok = 0  # for the metrics: every fetch since this cache was built
        self.fetches_failed = 0

    @property
    def metadata(self) -> ProviderMetadata | None:
        return self._metadata

    @property
    def available(self) -> bool:
        """True when usable keys are held (fresh, or stale within the allowed staleness)."""
        return self._usable(self._clock.monotonic()) is not None

    def status(self) -> "KeyStatus":
        """What an admin sees: whether keys are held, how many, and since when."""
        now = self._clock.monotonic()
        if self._keys is None:
            state = "unavailable" if self._flights else "not_fetched"
        elif self._usable(now) is None:
            state = "unavailable"
        elif now >= self._expires_at or self._serving_stale:
            state = "stale"
        else:
            state = "ok"
        fetched = None if self._last_fetch == float("-inf") else round(now - self._last_fetch, 1)
        count = len(self._keys.keys) if self._keys is not None else 0
        held = self._fetched_keys_at
        return KeyStatus(state, count, fetched, None if held is None else round(now - held, 1))

    async def refresh_if_due(self) -> None:
        """Fetch the keys now if they expired (or were never fetched): a background job calls
        this, so an idle server's keys stay fresh and a provider outage shows before the next
        connect pays for it. A failure is kept in the status (and logged), not raised."""
        if self._keys is not None and self._clock.monotonic() < self._expires_at:
            return
        try:
            await self.get()
        except IdpUnavailableError:
            pass

    async def get(self) -> KeySet:
        """Current keys, fetched when absent or expired.

        Raises:
            IdpUnavailableError: the keys cannot be fetched and none usable are cached (none at
                all, or expired more than ``jwks_max_stale_seconds`` ago).
        """
        now = self._clock.monotonic()
        if self._keys is not None and now < self._expires_at:
            return self._keys
        stale = self._usable(now)
        if (
            stale is not None
            and self._serving_stale
            and now - self._last_fetch < self._retry_interval
        ):
            return stale  # the provider is down: do not hammer it on every connect
        try:
            return await self._refresh()
        except IdpUnavailableError:
            stale = self._usable(self._clock.monotonic())  # the fetch took time
            if stale is None:
                raise
            logger.warning("provider %s: keys unreachable, serving cached keys", self._provider.id)
            self._serving_stale = True
            return stale

    async def refresh_for_unknown_kid(self) -> KeySet | None:
        """One forced refresh for an unknown ``kid``, or ``None`` if one happened too recently.

        Raises:
            IdpUnavailableError: the refresh failed (stale keys are never the answer here).
        """
        interval = self._provider.jwks_min_refresh_interval_seconds
        if self._clock.monotonic() - self._last_fetch < interval:
            return None
        return await self._refresh()

    def _usable(self, now: float) -> KeySet | None:
        """The held keys while fresh or within the allowed staleness; ``get`` and ``available``
        both decide here, so they always agree."""
        if self._keys is None or now >= self._expires_at + self._provider.jwks_max_stale_seconds:
            return None
        return self._keys

    async def _refresh(self) -> KeySet:
        flight = self._flights
        async with self._lock:
            if self._flights != flight:
                return self._shared_outcome()  # someone else fetched while we waited
            return await self._fetch()

    def _shared_outcome(self) -> KeySet:
        if self._last_failed or self._keys is None:
            raise IdpUnavailableError(f"provider {self._provider.id}: keys unreachable")
        return self._keys

    async def _fetch(self) -> KeySet:
        self._last_fetch = self._clock.monotonic()
        try:
            keys, cache_control = await self._download()
        except IdpUnavailableError:
            self._flights, self._last_failed = self._flights + 1, True  # the waiters share it
            self.fetches_failed += 1
            raise
        self._flights, self._last_failed = self._flights + 1, False
        self.fetches_ok += 1
        self._fetched_keys_at = self._last_fetch
        self._keys, self._serving_stale = keys, False
        self._expires_at = self._last_fetch + self._ttl(cache_control)
        logger.info("provider %s: loaded %d signing keys", self._provider.id, len(keys.keys))
        return keys

    async def _download(self) -> tuple[KeySet, str]:
        provider = self._provider
        try:
            if self._metadata is None:
                self._metadata = await discover(self._http, provider)
            document, headers = await fetch_json(
                self._http, self._metadata.jwks_uri, provider.http_timeout_seconds
            )
        except IdpUnavailableError:
            self._metadata = None  # the jwks_uri may have moved: rediscover next time
            raise
        return parse_key_set(document, provider.id), headers.get("cache-control", "")

    def _ttl(self, cache_control: str) -> float:
        provider = self._provider
        match = _MAX_AGE.search(cache_control)
        ttl = int(match.group(1)) if match else provider.jwks_default_ttl_seconds
        if "no-store" in cache_control.lower() or "no-cache" in cache_control.lower():
            ttl = provider.jwks_min_ttl_seconds
        return float(min(max(ttl, provider.jwks_min_ttl_seconds), provider.jwks_max_ttl_seconds))
