"""Vendor-shaped fake OpenID providers: each vendor's discovery document, JWKS and token headers.

A real vendor differs from our dev provider in ways a verifier trips over: where the JWKS lives
(Google serves it from another host), what each key carries (``x5c``/``x5t``, Keycloak's extra
``use: enc`` key, Entra's keys without ``alg`` but with an ``issuer``), what the token header says
(``typ`` absent, ``JWT`` or ``at+jwt``; Entra v1 adds ``x5t``) and whose key signs which token
(Cognito signs ID and access tokens with different keys). ``VendorIdP`` reproduces those shapes
with keys we hold; the tests then mint each vendor's documented claims with it.

``Deployment`` is the server side: the provider and rooms configured from the TOML an admin
would paste (README), a real ``TokenVerifier`` over this provider's HTTP documents, and the real
``ChatService`` room rule (never started: no database is needed to list rooms).
"""

import base64
import datetime
import functools
import hashlib
import tomllib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import RSAKey

from server.chat import ChatService
from server.config import ProviderConfig, RoomConfig
from server.identity import Identity, IdentityError, TokenVerifier
from server.storage import create_engine
from tests.support.chat import make_chat
from tests.support.clock import FakeClock

Claims = dict[str, Any]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def at_hash(token: str) -> str:
    """OIDC Core 3.1.3.6 for RS256: left half of SHA-256 of the access token, base64url."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return b64url(digest[:16])


@functools.cache
def _key_pair(name: str) -> RSAKey:
    """One RSA key per name for the whole run: keys are never changed, and 2048-bit generation
    is the slowest step of this suite."""
    return RSAKey.generate_key(2048, private=True)


@functools.cache
def _certificate(name: str) -> bytes:
    """A self-signed certificate for the named key, DER: what vendors publish in ``x5c``."""
    private = serialization.load_pem_private_key(
        _key_pair(name).as_pem(private=True), password=None
    )
    assert isinstance(private, rsa.RSAPrivateKey)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(private, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True, slots=True)
class VendorKey:
    """A signing key we hold, and the JWK the vendor would publish for it."""

    private: RSAKey
    published: dict[str, Any]

    @property
    def kid(self) -> str:
        return str(self.published["kid"])


def rsa_key(
    name: str,
    *,
    alg: str | None = "RS256",
    x5c: bool = False,
    x5t_as_kid: bool = False,
    x5t_s256: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> VendorKey:
    """An RSA signing key published the vendor's way; ``name`` is its ``kid`` (and names the key
    pair: the same name, the same key).

    ``alg=None`` publishes no ``alg`` (Entra ID); ``x5c`` adds a self-signed certificate chain and
    its SHA-1 thumbprint ``x5t``; ``x5t_as_kid`` makes the ``kid`` that thumbprint (Entra ID,
    AD FS); ``x5t_s256`` adds ``x5t#S256`` (Keycloak); ``extra`` adds members such as Entra's
    per-key ``issuer``.
    """
    private = _key_pair(name)
    public: dict[str, Any] = {"kty": "RSA", "use": "sig", "n": private["n"], "e": private["e"]}
    if x5c or x5t_as_kid:
        der = _certificate(name)
        public["x5c"] = [base64.b64encode(der).decode("ascii")]
        # The JWK x5t member is the SHA-1 thumbprint by definition (RFC 7517 section 4.8).
        public["x5t"] = b64url(hashlib.sha1(der).digest())
        if x5t_s256:
            public["x5t#S256"] = b64url(hashlib.sha256(der).digest())
    public["kid"] = public["x5t"] if x5t_as_kid else name
    if alg is not None:
        public["alg"] = alg
    public.update(extra or {})
    return VendorKey(private, public)


def encryption_key(kid: str, alg: str = "RSA-OAEP") -> VendorKey:
    """A ``use: enc`` key as Keycloak and PingAM publish it: it must never verify a signature."""
    private = _key_pair(kid)
    public = {"kid": kid, "kty": "RSA", "alg": alg, "use": "enc", "n": private["n"], "e": "AQAB"}
    return VendorKey(private, public)


class VendorIdP:
    """Discovery and JWKS served at the vendor's own URLs, through ``httpx.MockTransport``.

    Documents are found by exact URL (scheme, host and path), so a verifier that guesses a JWKS
    location instead of reading ``jwks_uri`` gets a 404, as it would from the vendor.
    """

    def __init__(
        self,
        *,
        issuer: str,
        jwks_uri: str,
        keys: list[VendorKey],
        clock: FakeClock,
        discovery: Mapping[str, Any] | None = None,
        extra_jwks: list[dict[str, Any]] | None = None,
    ) -> None:
        self.issuer = issuer
        self.clock = clock
        self.keys = keys
        self.discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        self.discovery_document: dict[str, Any] = {
            "issuer": issuer,
            "jwks_uri": jwks_uri,
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
            **(discovery or {}),
        }
        self.jwks: dict[str, Any] = {
            "keys": [*(extra_jwks or []), *(key.published for key in keys)]
        }
        self.fetches: list[str] = []

    @property
    def key(self) -> VendorKey:
        return self.keys[0]

    def now(self) -> int:
        return int(self.clock.now())

    def sign(self, claims: Claims, header: Mapping[str, Any], key: VendorKey | None = None) -> str:
        """A compact JWS with exactly this header (plus ``alg`` and the key's ``kid``)."""
        key = key or self.key
        full = {"alg": "RS256", "kid": key.kid, **header}
        return jwt.encode({k: v for k, v in full.items() if v is not None}, claims, key.private)

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = f"{request.url.scheme}://{request.url.host}{request.url.path}"
        self.fetches.append(url)
        if url == self.discovery_url:
            return httpx.Response(200, json=self.discovery_document)
        if url == self.discovery_document["jwks_uri"]:
            return httpx.Response(200, json=self.jwks, headers={"Cache-Control": "max-age=3600"})
        return httpx.Response(404, json={"error": "not_found"})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


def provider_from_toml(text: str) -> ProviderConfig:
    """The single ``[[providers]]`` table of an admin's TOML, validated as the server does."""
    raw = tomllib.loads(text)
    (table,) = raw["providers"]
    return ProviderConfig.model_validate(table)


def rooms_from_toml(text: str) -> tuple[RoomConfig, ...]:
    return tuple(RoomConfig.model_validate(room) for room in tomllib.loads(text).get("rooms", []))


@dataclass
class Deployment:
    """Our server's side of one vendor: its verifier and its room rule."""

    verifier: TokenVerifier
    chat: ChatService

    async def connect(self, access_token: str | None, id_token: str | None) -> Identity:
        return await self.verifier.verify(access_token, id_token)

    async def refused(self, access_token: str | None, id_token: str | None) -> str:
        """The refusal code; raises AssertionError when the tokens are accepted."""
        try:
            identity = await self.verifier.verify(access_token, id_token)
        except IdentityError as exc:
            return exc.code
        raise AssertionError(f"accepted as {identity.subject!r}: must be refused")

    def rooms(self, identity: Identity) -> list[str]:
        return sorted(room.slug for room in self.chat.visible_rooms(identity))


@asynccontextmanager
async def deploy(idp: VendorIdP, toml: str) -> AsyncIterator[Deployment]:
    """Configure the server from the admin's TOML and point it at this vendor."""
    provider = provider_from_toml(toml)
    engine = create_engine("sqlite+aiosqlite:///:memory:")  # never connected: rooms need no rows
    async with httpx.AsyncClient(transport=idp.transport()) as http:
        verifier = TokenVerifier.build([provider], http, idp.clock)
        try:
            yield Deployment(verifier, make_chat(engine, rooms_from_toml(toml), 4000))
        finally:
            await engine.dispose()
