"""The admin's provider probe: an issuer's discovery and keys, checked one by one, nothing kept.

The probe fetches URLs an admin typed and URLs a remote document names, so every request goes
through ``fetch_json`` (no redirects, size cap, timeout) and only to a destination checked first.
This module runs the checks and builds the report; the rules live beside it: ``destination``
(which URLs and addresses may be requested) and ``keyrules`` (which keys and algorithms count).
"""

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from server.errors import AppError
from server.identity import MAX_DOCUMENT_BYTES, MAX_KEYS, IdpUnavailableError, fetch_json
from server.providers.destination import (
    RefusedError,
    Resolver,
    issuer_url_problem,
    lookup,
    names,
    shown,
    url_problem,
)
from server.providers.keyrules import (
    PublishedKey,
    choose_algorithms,
    ordered,
    published_key,
    weak_keys,
)

__all__ = ["Check", "Discovered", "ProbeReport", "Resolver", "Severity", "probe"]

logger = logging.getLogger(__name__)

Severity = Literal["error", "warning"]

_WELL_KNOWN = "/.well-known/openid-configuration"
_MAX_LISTED = 100
_STATUS = re.compile(r"answered (\d{3})$")


@dataclass(frozen=True, slots=True)
class Check:
    """One probe check; a failed ``warning`` does not fail the report."""

    name: str
    ok: bool
    detail: str
    severity: Severity = "error"


@dataclass(frozen=True, slots=True)
class Discovered:
    """Defaults the provider suggests for the admin's form (only values that passed checks)."""

    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    end_session_endpoint: str | None = None
    scopes_supported: tuple[str, ...] = ()
    claims_supported: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = ()
    supports_pkce: bool = False
    supports_backchannel_logout: bool = False


@dataclass(frozen=True, slots=True)
class ProbeReport:
    """Every check in a fixed order, and what the provider suggests."""

    checks: tuple[Check, ...]
    discovered: Discovered

    @property
    def ok(self) -> bool:
        """No check of severity ``error`` failed."""
        return all(check.ok for check in self.checks if check.severity == "error")

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON types."""
        d = self.discovered
        return {
            "ok": self.ok,
            "checks": [
                {"name": c.name, "ok": c.ok, "severity": c.severity, "detail": c.detail}
                for c in self.checks
            ],
            "discovered": {
                "authorization_endpoint": d.authorization_endpoint,
                "token_endpoint": d.token_endpoint,
                "end_session_endpoint": d.end_session_endpoint,
                "scopes_supported": list(d.scopes_supported),
                "claims_supported": list(d.claims_supported),
                "algorithms": list(d.algorithms),
                "supports_pkce": d.supports_pkce,
                "supports_backchannel_logout": d.supports_backchannel_logout,
            },
        }


async def probe(
    http: httpx.AsyncClient,
    issuer: str,
    *,
    client_id: str | None = None,
    algorithms: Sequence[str] | None = None,
    timeout_seconds: float = 5.0,
    resolve: Resolver | None = None,
) -> ProbeReport:
    """Check an issuer as real use would, without caching or storing anything.

    Each request is bounded by ``timeout_seconds`` (clamped to 0.1..60) and the whole probe by
    twice that. ``algorithms`` are the ones the admin means to allow (default: any allowed).
    ``client_id`` is accepted with the form, but discovery cannot tell anything about a client.
    Every failure is a failed check; only cancellation propagates.
    """
    del client_id  # nothing public describes a client: no check can use it
    timeout = max(timeout_seconds, 0.1) if timeout_seconds <= 60 else 60.0  # NaN: 60
    resolver = resolve or asyncio.get_running_loop().getaddrinfo
    run = _Probe(http, issuer, tuple(algorithms or ()), _Budget(timeout), resolver)
    report = await run.checks()
    failed = [c.name for c in report.checks if not c.ok]
    logger.info("provider probe of %s: %s", shown(issuer), ", ".join(failed) or "all passed")
    return report


class _Failed(AppError):
    """A check's failure, with the detail the admin sees; never leaves this module."""

    code: ClassVar[str] = "probe_check_failed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class _Document(BaseModel):
    """The discovery fields the probe reads; strict, so a wrong type is an invalid document."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    issuer: str
    jwks_uri: str | None = None
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    end_session_endpoint: str | None = None
    scopes_supported: list[str] | None = None
    claims_supported: list[str] | None = None
    id_token_signing_alg_values_supported: list[str] | None = None
    code_challenge_methods_supported: list[str] | None = None
    backchannel_logout_supported: bool = False
    backchannel_logout_session_supported: bool = False


class _Budget:
    """A per-step limit and a total deadline (twice the step), on the running loop's clock."""

    def __init__(self, per_step: float) -> None:
        self._loop = asyncio.get_running_loop()
        self.per_step = per_step
        self.total = 2 * per_step
        self._deadline = self._loop.time() + self.total

    def remaining(self) -> float:
        return max(self._deadline - self._loop.time(), 0.0)

    def step(self) -> asyncio.Timeout:
        """Raises TimeoutError at once when the deadline has passed: no request is started."""
        limit = min(self.per_step, self.remaining())
        if limit <= 0:
            raise TimeoutError
        return asyncio.timeout(limit)

    def timed_out(self) -> str:
        if self.remaining() <= 0.001:
            return f"timed out: the probe's deadline of {self.total:g} s was reached"
        return f"timed out after {self.per_step:g} s"


class _Probe:
    """One probe run: the checks in order, each recorded as it ends; a check whose prerequisite
    failed is recorded as skipped, naming the check that failed first."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        issuer: str,
        requested: tuple[str, ...],
        budget: _Budget,
        resolve: Resolver,
    ) -> None:
        self._http = http
        self._issuer = issuer
        self._requested = requested
        self._budget = budget
        self._resolve = resolve
        self._checks: list[Check] = []
        self._root: dict[str, str] = {}  # a failed or skipped check -> the check that failed
        self._doc: _Document | None = None
        self._jwks_uri: str | None = None
        self._keys: list[PublishedKey] = []
        self._suggested: tuple[str, ...] = ()

    async def checks(self) -> ProbeReport:
        await self._run("issuer_url", self._issuer_url)
        await self._run("destination", self._issuer_destination, "issuer_url")
        await self._run("discovery", self._discovery, "destination")
        await self._run("issuer_match", self._issuer_match, "discovery")
        await self._run("endpoints", self._endpoints, "discovery")
        jwks_needs = "discovery" if self._jwks_uri else "endpoints"
        await self._run("jwks", self._jwks, jwks_needs)
        await self._run("key_count", self._key_count, "jwks")
        await self._run("algorithms", self._algorithms, "jwks")
        await self._run("key_sizes", self._key_sizes, "jwks")
        await self._run("pkce", self._pkce, "discovery")
        await self._run("backchannel_logout", self._backchannel, "discovery", severity="warning")
        return ProbeReport(tuple(self._checks), self._discovered())

    async def _run(
        self,
        name: str,
        step: Callable[[], Awaitable[str]],
        needs: str | None = None,
        *,
        severity: Severity = "error",
    ) -> None:
        blocker = self._root.get(needs) if needs else None
        if blocker is not None:
            self._record(Check(name, False, f"skipped: {blocker}", severity), blocker)
            return
        try:
            check = Check(name, True, await step(), severity)
        except _Failed as exc:
            check = Check(name, False, exc.detail, severity)
        except TimeoutError:
            check = Check(name, False, self._budget.timed_out(), severity)
        except Exception:  # the probe's contract: every failure is a failed check
            logger.warning("provider probe: check %s failed unexpectedly", name, exc_info=True)
            check = Check(name, False, "unexpected error (logged on the server)", severity)
        self._record(check, name)

    def _record(self, check: Check, root: str) -> None:
        self._checks.append(check)
        if not check.ok:
            self._root[check.name] = root

    @property
    def _document(self) -> _Document:
        assert self._doc is not None  # the run skips the checks that read it without one
        return self._doc

    # --- the checks: each returns its detail or raises _Failed -----------------------------

    async def _issuer_url(self) -> str:
        problem = issuer_url_problem(self._issuer)
        if problem is not None:
            raise _Failed(problem)
        return "a valid issuer URL"

    async def _issuer_destination(self) -> str:
        return await self._destination(self._issuer)

    async def _discovery(self) -> str:
        document = await self._fetch(self._issuer.rstrip("/") + _WELL_KNOWN)
        if not isinstance(document, dict):
            raise _Failed(f"the document is not a JSON object but {_json_type(document)}")
        try:
            self._doc = _Document.model_validate(document)
        except ValidationError as exc:
            fields = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
            raise _Failed(f"invalid or missing: {', '.join(sorted(fields))}") from exc
        return "fetched a valid discovery document"

    async def _issuer_match(self) -> str:
        found = self._document.issuer
        if found == self._issuer:
            return "the document names this issuer"
        same = found.rstrip("/") == self._issuer.rstrip("/")
        hint = " (they differ by a trailing slash)" if same else ""
        raise _Failed(f"the document names issuer {shown(found, 150)!r}{hint}")

    async def _endpoints(self) -> str:
        doc = self._document
        fields = ("authorization_endpoint", "token_endpoint", "jwks_uri")
        problems = [p for p in (url_problem(n, getattr(doc, n)) for n in fields) if p]
        where = ""
        if doc.jwks_uri is not None and url_problem("jwks_uri", doc.jwks_uri) is None:
            try:
                where = await self._destination(doc.jwks_uri)
            except _Failed as exc:
                problems.append(f"jwks_uri: {exc.detail}")
            else:
                self._jwks_uri = doc.jwks_uri
        if problems:
            raise _Failed("; ".join(problems))
        return f"authorization, token and jwks_uri present; jwks host {where}"

    async def _jwks(self) -> str:
        assert self._jwks_uri is not None  # the run skips this check without one
        document = await self._fetch(self._jwks_uri)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise _Failed("not a JWK set (a JSON object with a keys array)")
        published: list[Any] = document["keys"]
        if not published:
            raise _Failed("the key set is empty")
        self._keys = [published_key(raw) for raw in published[:MAX_KEYS]]
        extra = f" (only the first {MAX_KEYS} are read)" if len(published) > MAX_KEYS else ""
        return f"{len(published)} keys published{extra}"

    async def _key_count(self) -> str:
        usable = sum(1 for key in self._keys if key.algorithms)
        if not usable:
            raise _Failed(f"none of the {len(self._keys)} keys can verify an allowed algorithm")
        return f"{usable} usable signing keys of {len(self._keys)}"

    async def _algorithms(self) -> str:
        advertised = self._document.id_token_signing_alg_values_supported
        choice = choose_algorithms(advertised, self._keys, self._requested)
        self._suggested = ordered(choice.offered)
        if not choice.wanted:
            raise _Failed("no usable algorithm" + choice.notes)
        return f"usable: {', '.join(ordered(choice.wanted))}" + choice.notes

    async def _key_sizes(self) -> str:
        weak = weak_keys(self._keys)
        if weak:
            raise _Failed(f"weak or unsupported signing keys: {names(weak, 160, each=80)}")
        signing = sum(1 for key in self._keys if key.signing is not None)
        return f"{signing} signing keys, none weak"

    async def _pkce(self) -> str:
        methods = self._document.code_challenge_methods_supported
        if methods is None:
            raise _Failed("code_challenge_methods_supported is not advertised")
        if "S256" not in methods:
            raise _Failed(f"S256 is not offered (offered: {names(methods, 120) or 'none'})")
        return "S256 offered"

    async def _backchannel(self) -> str:
        doc = self._document
        missing = [
            name
            for name, value in (
                ("backchannel_logout_supported", doc.backchannel_logout_supported),
                ("backchannel_logout_session_supported", doc.backchannel_logout_session_supported),
            )
            if not value
        ]
        if missing:
            raise _Failed(
                f"not advertised: {', '.join(missing)}; a sign-out at the provider will not"
                " end chat sessions"
            )
        return "back-channel logout with sessions supported"

    # --- the network ---------------------------------------------------------------------

    async def _fetch(self, url: str) -> Any:
        try:
            async with self._budget.step():
                limit = min(self._budget.per_step, self._budget.remaining())
                document, _ = await fetch_json(self._http, url, max(limit, 0.001))
        except IdpUnavailableError as exc:
            raise _Failed(_fetch_failure(exc)) from exc
        return document

    async def _destination(self, url: str) -> str:
        """Where ``url``'s host resolves; refused when any address is not a fit target."""
        try:
            return await lookup(url, self._bounded_resolve)
        except RefusedError as exc:
            raise _Failed(exc.detail) from exc

    async def _bounded_resolve(self, host: str, port: int) -> Sequence[tuple[Any, ...]]:
        async with self._budget.step():
            return await self._resolve(host, port)

    def _discovered(self) -> Discovered:
        doc = self._doc
        if doc is None:
            return Discovered()
        return Discovered(
            authorization_endpoint=_safe_url(doc.authorization_endpoint),
            token_endpoint=_safe_url(doc.token_endpoint),
            end_session_endpoint=_safe_url(doc.end_session_endpoint),
            scopes_supported=_listed(doc.scopes_supported),
            claims_supported=_listed(doc.claims_supported),
            algorithms=self._suggested,
            supports_pkce="S256" in (doc.code_challenge_methods_supported or ()),
            supports_backchannel_logout=doc.backchannel_logout_supported
            and doc.backchannel_logout_session_supported,
        )


# --- details and suggestions for the admin --------------------------------------------------


def _fetch_failure(exc: IdpUnavailableError) -> str:
    """The admin's reason for a failed fetch, from our own error (never the remote body)."""
    cause = exc.__cause__
    if isinstance(cause, httpx.TimeoutException):
        return f"timed out ({type(cause).__name__})"
    if isinstance(cause, httpx.ConnectError):
        return f"cannot connect: {shown(str(cause) or type(cause).__name__, 160)}"
    if isinstance(cause, httpx.HTTPError):
        return f"request failed: {type(cause).__name__}"
    if isinstance(cause, ValueError | RecursionError):
        return "the response is not JSON"
    message = str(exc)
    status = _STATUS.search(message)
    if status is not None and status.group(1).startswith("3"):
        return f"redirect refused (HTTP {status.group(1)}): serve the document at this URL"
    if status is not None:
        return f"answered HTTP {status.group(1)}, not 200"
    if "larger than" in message:
        return f"the document is larger than {MAX_DOCUMENT_BYTES} bytes"
    return "request failed"


def _safe_url(value: str | None) -> str | None:
    return value if value is not None and url_problem("url", value) is None else None


def _listed(values: list[str] | None) -> tuple[str, ...]:
    """At most 100 short, printable entries: a form's suggestions, not a remote dump."""
    fit = (v for v in values or () if 0 < len(v) <= 100 and v.isprintable())
    return tuple(dict.fromkeys(fit))[:_MAX_LISTED]


def _json_type(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")
