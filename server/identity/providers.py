"""Provider discovery: ``{issuer}/.well-known/openid-configuration``, checked before any key is trusted."""

import json
import logging
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from server.config import ProviderConfig, check_http_url
from server.identity.errors import IdpUnavailableError

logger = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 512 * 1024


class ProviderMetadata(BaseModel):
    """The parts of an OpenID Provider's discovery document this server relies on."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    issuer: str
    jwks_uri: str
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    end_session_endpoint: str | None = None

    @field_validator("jwks_uri")
    @classmethod
    def _jwks_uri_is_safe(cls, value: str) -> str:
        return check_http_url(value, "jwks_uri")


async def fetch_json(
    http: httpx.AsyncClient, url: str, timeout_seconds: float
) -> tuple[Any, httpx.Headers]:
    """GET a JSON document with a size cap; any failure is ``IdpUnavailableError``.

    Redirects are not followed: a provider's documents live where its metadata says.
    """
    try:
        async with http.stream(
            "GET",
            url,
            timeout=timeout_seconds,
            follow_redirects=False,
            headers={"Accept": "application/json"},
        ) as response:
            if response.status_code != 200:
                raise IdpUnavailableError(f"GET {url} answered {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise IdpUnavailableError(
                        f"GET {url}: document larger than {MAX_DOCUMENT_BYTES}"
                    )
            return json.loads(body), response.headers
    except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:  # UnicodeError: IDNA
        raise IdpUnavailableError(f"GET {url} failed: {type(exc).__name__}") from exc
    except (ValueError, RecursionError) as exc:  # RecursionError: nested past the parser's limit
        raise IdpUnavailableError(f"GET {url}: not JSON") from exc


async def discover(http: httpx.AsyncClient, provider: ProviderConfig) -> ProviderMetadata:
    """Fetch and check a provider's discovery document.

    Raises:
        IdpUnavailableError (idp_unavailable): unreachable, malformed, or its ``issuer`` differs
            from the configured one (a mix-up or a misconfiguration: fail closed).
    """
    url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
    document, _ = await fetch_json(http, url, provider.http_timeout_seconds)
    try:
        metadata = ProviderMetadata.model_validate(document)
    except ValidationError as exc:
        raise IdpUnavailableError(f"provider {provider.id}: bad discovery document") from exc
    if metadata.issuer != provider.issuer:
        raise IdpUnavailableError(
            f"provider {provider.id}: discovery issuer {metadata.issuer!r} != configured"
            f" {provider.issuer!r}"
        )
    return metadata
