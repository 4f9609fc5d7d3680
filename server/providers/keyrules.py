"""Which published keys the provider probe counts, and which algorithms they offer.

A key is usable when real use parses it and it verifies an allowed algorithm; a signing key
(``use`` absent or ``sig``) is weak when RSA is under ``MIN_RSA_BITS``, the curve is not one we
verify, or it is a shared secret. The algorithms offered are those the keys verify, narrowed to
what the discovery document advertises (when it does), then to what the admin requested.
"""

import base64
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from server.config import ALLOWED_ALGORITHMS, DEFAULT_ALGORITHMS
from server.identity import MIN_RSA_BITS, parse_key_set
from server.providers.destination import names, shown

logger = logging.getLogger(__name__)

_RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_CURVE_ALGS = {
    "EC": {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"},
    "OKP": {"Ed25519": "EdDSA", "Ed448": "EdDSA"},
}


@dataclass(frozen=True, slots=True)
class PublishedKey:
    """One published key: itself when meant for signatures, and the algorithms it verifies."""

    signing: dict[str, Any] | None
    algorithms: frozenset[str]


@dataclass(frozen=True, slots=True)
class AlgorithmChoice:
    """The algorithms offered, those of them the admin wants, and notes (``"; ..."`` or ``""``)."""

    offered: frozenset[str]
    wanted: frozenset[str]
    notes: str


def published_key(raw: Any) -> PublishedKey:
    """Read one entry of a JWK set's ``keys`` array, whatever its shape."""
    return PublishedKey(_signing_key(raw), _usable_algorithms(raw))


def choose_algorithms(
    advertised: list[str] | None, keys: Sequence[PublishedKey], requested: tuple[str, ...]
) -> AlgorithmChoice:
    """Intersect what the keys verify, what the document advertises and what was requested."""
    from_keys: frozenset[str] = frozenset().union(*(key.algorithms for key in keys))
    offered = from_keys if advertised is None else from_keys & set(advertised)
    wanted = offered & set(requested) if requested else offered
    notes = _algorithm_notes(advertised, from_keys, requested, offered)
    return AlgorithmChoice(offered, wanted, notes)


def weak_keys(keys: Sequence[PublishedKey]) -> list[str]:
    """Each weak or unsupported signing key, named by its kid, with the reason."""
    return [
        f"{_kid(key.signing, index)} ({why})"
        for index, key in enumerate(keys)
        if key.signing is not None and (why := _weakness(key.signing)) is not None
    ]


def ordered(algorithms: Iterable[str]) -> tuple[str, ...]:
    """The default algorithms first (in their order), then the others sorted."""
    chosen = set(algorithms)
    first = [a for a in DEFAULT_ALGORITHMS if a in chosen]
    return (*first, *sorted(chosen - set(first)))


def _signing_key(raw: Any) -> dict[str, Any] | None:
    """A published key meant for signatures (``use`` absent or ``sig``), else None."""
    if isinstance(raw, dict) and raw.get("use", "sig") == "sig":
        return raw
    return None


def _usable_algorithms(raw: Any) -> frozenset[str]:
    """The allowed algorithms a published key verifies in real use; empty when unusable."""
    if not isinstance(raw, dict) or not isinstance(raw.get("kty"), str):
        return frozenset()  # real use's parser would choke on an unhashable kty
    if not parse_key_set({"keys": [raw]}, "probe").keys:
        return frozenset()
    kty, crv, alg = raw["kty"], raw.get("crv"), raw.get("alg")
    if kty == "RSA":
        algs = frozenset(_RSA_ALGS)
    elif kty in _CURVE_ALGS and isinstance(crv, str) and crv in _CURVE_ALGS[kty]:
        algs = frozenset({_CURVE_ALGS[kty][crv]})
    else:
        algs = frozenset()
    return algs if alg is None else algs & {alg} if isinstance(alg, str) else frozenset()


def _weakness(raw: dict[str, Any]) -> str | None:
    kty, crv = raw.get("kty"), raw.get("crv")
    if kty == "RSA":
        bits = _rsa_bits(raw.get("n"))
        return f"RSA {bits} bits, under {MIN_RSA_BITS}" if bits < MIN_RSA_BITS else None
    if kty in ("EC", "OKP"):
        curves = _CURVE_ALGS[str(kty)]
        return None if isinstance(crv, str) and crv in curves else f"{kty} curve {shown(crv, 20)}"
    if kty == "oct":
        return "a shared secret (oct)"
    return f"key type {shown(kty, 20)}"


def _rsa_bits(modulus: object) -> int:
    if not isinstance(modulus, str):
        return 0
    try:
        raw = base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))
    except ValueError:
        return 0
    return int.from_bytes(raw, "big").bit_length()


def _algorithm_notes(
    advertised: list[str] | None,
    from_keys: frozenset[str],
    requested: tuple[str, ...],
    offered: frozenset[str],
) -> str:
    notes = []
    if advertised is None:
        notes.append("id_token_signing_alg_values_supported is not advertised")
    else:
        refused = [a for a in advertised if a == "none" or a.upper().startswith("HS")]
        if refused:
            notes.append(f"advertised but never accepted: {names(refused, 60)}")
        keyless = [a for a in advertised if a in ALLOWED_ALGORITHMS and a not in from_keys]
        if keyless:
            notes.append(f"advertised without a usable key: {names(keyless, 60)}")
    not_allowed = [a for a in requested if a not in ALLOWED_ALGORITHMS]
    if not_allowed:
        notes.append(f"requested but not allowed: {names(not_allowed, 40)}")
    missing = [a for a in requested if a in ALLOWED_ALGORITHMS and a not in offered]
    if missing:
        notes.append(f"requested but not offered: {names(missing, 40)}")
    return "".join(f"; {note}" for note in notes)


def _kid(raw: dict[str, Any], index: int) -> str:
    kid = raw.get("kid")
    return repr(shown(kid, 40)) if isinstance(kid, str) else f"key #{index + 1} (no kid)"
