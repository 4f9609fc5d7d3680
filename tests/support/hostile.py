"""Hostile token parts that a JSON library cannot build: nesting deeper than the recursion limit,
signed with a real key so the signature is not what refuses them."""

import json
from collections.abc import Mapping
from typing import Any

from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from tests.support.fake_idp import b64url

DEEP = 5000  # well past Python's default recursion limit (1000)


def deep_json(members: Mapping[str, Any] | None = None, *, depth: int = DEEP) -> bytes:
    """``{members…, "a": [[[…]]]}`` with ``depth`` nested arrays."""
    head = json.dumps(dict(members or {}))[:-1] + (", " if members else "")
    return f'{head}"a": {"[" * depth}{"]" * depth}}}'.encode()


def signed_compact(header: bytes, payload: bytes, key: RSAKey | ECKey) -> str:
    """A compact JWS over exactly these header and payload bytes, validly signed with ``key``."""
    alg = "RS256" if isinstance(key, RSAKey) else "ES256"
    signing_input = f"{b64url(header)}.{b64url(payload)}".encode("ascii")
    signature = JWSRegistry.algorithms[alg].sign(signing_input, key)
    return f"{signing_input.decode('ascii')}.{b64url(signature)}"
