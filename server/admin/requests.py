"""Reading admin requests: bounded JSON bodies and typed query parameters."""

import json
from typing import Any

from starlette.requests import Request

from server.admin.errors import BadRequestError
from server.http import read_body

MAX_BODY_BYTES = 64 * 1024
READ_SECONDS = 10.0
MAX_PAGE = 500


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object (``application/json``, at most 64 KiB, read within 10 s).

    Raises:
        BadRequestError (invalid_request).
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise BadRequestError("the body must be application/json")
    body = await read_body(request, MAX_BODY_BYTES, READ_SECONDS, BadRequestError)
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequestError("the body is not JSON") from exc
    if not isinstance(value, dict):
        raise BadRequestError("the body must be a JSON object")
    return value


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within ``[low, high]``.

    Raises:
        BadRequestError (invalid_request).
    """
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.lstrip("-").isdigit() and len(raw) <= 18):
        raise BadRequestError(f"{name} must be an integer")
    value = int(raw)
    if not low <= value <= high:
        raise BadRequestError(f"{name} must be between {low} and {high}")
    return value


def query_str(request: Request, name: str, max_chars: int = 255) -> str | None:
    raw = request.query_params.get(name)
    if raw is not None and len(raw) > max_chars:
        raise BadRequestError(f"{name} is too long")
    return raw or None


def if_match(request: Request) -> int | None:
    """The provider version of ``If-Match: "<version>"`` (optimistic concurrency), if sent."""
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise BadRequestError("If-Match must be a provider version")
    return int(value)


def sample_inputs(body: dict[str, Any]) -> dict[str, Any]:
    """A preview's input: ``id_token`` and/or ``access_token`` (strings), or ``claims`` (an
    object), never both kinds.

    Raises:
        BadRequestError (invalid_request).
    """
    unknown = set(body) - {"id_token", "access_token", "claims"}
    if unknown:
        raise BadRequestError(f"unknown fields {sorted(unknown)}")
    claims = body.get("claims")
    tokens = {k: body[k] for k in ("id_token", "access_token") if body.get(k) is not None}
    if claims is not None:
        if tokens or not isinstance(claims, dict):
            raise BadRequestError("claims must be an object, sent without tokens")
        return {"claims": claims}
    if not tokens or not all(isinstance(v, str) for v in tokens.values()):
        raise BadRequestError("send id_token and/or access_token (strings), or claims")
    return tokens
