"""Sign in to an OpenID provider like a browser would: authorization code + PKCE (S256).

Everything runs over one ``httpx.Client`` (its cookie jar is the "browser" session), no JavaScript,
no real browser. Built for the dev IdP in this directory, but it only relies on standard endpoints
(discovery, ``/auth``, ``/token``, ``end_session_endpoint``) plus an HTML login form with
``login``/``password`` fields.

CLI (for humans)::

    python -m devidp.signin --issuer http://127.0.0.1:9400 alice alice-password
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

DEFAULT_CLIENT_ID = "chat-spa"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8000/callback"
# The chat API scopes are included so the JWT access token is usable against the API.
DEFAULT_SCOPE = "openid profile email groups chat:read chat:write"
MAX_HOPS = 20


class SignInError(Exception):
    """Sign-in failed: wrong credentials or a protocol error."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    id_token: str
    refresh_token: str | None
    expires_in: int


# -- small helpers ------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """Return ``(code_verifier, S256 code_challenge)``."""
    verifier = _b64url(secrets.token_bytes(48))
    challenge = _b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    return verifier, challenge


def decode_jwt_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(header, payload)`` of a compact JWS WITHOUT checking the signature."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")

    def part(segment: str) -> dict[str, Any]:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError("JWS part is not a JSON object")
        return value

    return part(parts[0]), part(parts[1])


@dataclass
class _Form:
    action: str = ""
    method: str = "get"
    id: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    input_types: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    """Collect ``<form>``s with their inputs, plus the page's error text (``class="error"``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self._current: _Form | None = None
        self._in_error = 0
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._current = _Form(
                action=attr.get("action", ""),
                method=attr.get("method", "get").lower(),
                id=attr.get("id"),
            )
            self.forms.append(self._current)
        elif tag == "input":
            form = self._form_for(attr)
            name = attr.get("name")
            if form is not None and name:
                form.fields[name] = attr.get("value", "")
                form.input_types[name] = attr.get("type", "text").lower()
        if "error" in attr.get("class", "").split():
            self._in_error += 1

    def _form_for(self, attr: dict[str, str]) -> _Form | None:
        owner = attr.get("form")
        if owner:
            return next((f for f in self.forms if f.id == owner), None)
        return self._current

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag in {"p", "div", "span"} and self._in_error:
            self._in_error -= 1

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())
            if self._in_error:
                self.errors.append(data.strip())


def _parse_page(html: str) -> _FormParser:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser


def _same_endpoint(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)


def _token_response(response: httpx.Response) -> Tokens:
    try:
        body = response.json()
    except ValueError:
        raise SignInError(
            f"token endpoint answered {response.status_code}: {response.text[:300]}"
        ) from None
    if response.status_code != 200 or not isinstance(body, dict):
        raise SignInError(
            f"token endpoint answered {response.status_code}: "
            f"{body.get('error') if isinstance(body, dict) else body}: "
            f"{body.get('error_description', '') if isinstance(body, dict) else ''}"
        )
    if "access_token" not in body:
        raise SignInError("token response without access_token")
    refresh_token = body.get("refresh_token")
    return Tokens(
        access_token=str(body["access_token"]),
        id_token=str(body.get("id_token", "")),
        refresh_token=str(refresh_token) if refresh_token else None,
        expires_in=int(body.get("expires_in", 0)),
    )


# -- the "browser" ------------------------------------------------------------------------------


class Browser:
    """One cookie jar against one issuer: sign in, refresh, end the provider session."""

    def __init__(self, issuer: str, *, timeout: float = 15.0) -> None:
        self.issuer = issuer.rstrip("/")
        self.client = httpx.Client(follow_redirects=False, timeout=timeout)
        self._metadata: dict[str, Any] | None = None

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # discovery

    @property
    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            response = self.client.get(f"{self.issuer}/.well-known/openid-configuration")
            if response.status_code != 200:
                raise SignInError(f"discovery answered {response.status_code}")
            metadata = response.json()
            if not isinstance(metadata, dict) or metadata.get("issuer") != self.issuer:
                raise SignInError(f"discovery issuer mismatch: {metadata.get('issuer')!r}")
            self._metadata = metadata
        return self._metadata

    def _endpoint(self, name: str) -> str:
        value = self.metadata.get(name)
        if not isinstance(value, str):
            raise SignInError(f"provider metadata has no {name}")
        return value

    # sign-in

    def sign_in(
        self,
        username: str,
        password: str,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        redirect_uri: str = DEFAULT_REDIRECT_URI,
        scope: str = DEFAULT_SCOPE,
        resource: str | None = None,
        prompt: str | None = None,
    ) -> Tokens:
        """Authorization code + PKCE. Reuses the provider session if this browser has one."""
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        nonce = secrets.token_urlsafe(16)
        params = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if resource is not None:
            params["resource"] = resource
        if prompt is not None:
            params["prompt"] = prompt

        response = self.client.get(self._endpoint("authorization_endpoint"), params=params)
        callback = self._walk(response, redirect_uri, username, password)

        query = parse_qs(urlsplit(callback).query)

        def one(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        if one("error"):
            raise SignInError(f"{one('error')}: {one('error_description') or ''}".strip())
        if one("state") != state:
            raise SignInError("state mismatch in the authorization response")
        if one("iss") is not None and one("iss") != self.issuer:
            raise SignInError(f"iss mismatch in the authorization response: {one('iss')!r}")
        if self.metadata.get("authorization_response_iss_parameter_supported") and not one("iss"):
            raise SignInError("authorization response lacks iss (RFC 9207)")
        code = one("code")
        if not code:
            raise SignInError("authorization response without code")

        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
        }
        tokens = _token_response(self.client.post(self._endpoint("token_endpoint"), data=data))
        if "openid" in scope.split():
            if not tokens.id_token:
                raise SignInError("no id_token in the token response")
            _, claims = decode_jwt_unverified(tokens.id_token)
            if claims.get("nonce") != nonce:
                raise SignInError("nonce mismatch in the ID token")
        return tokens

    def _walk(
        self, response: httpx.Response, redirect_uri: str, username: str, password: str
    ) -> str:
        """Follow redirects and forms until the provider redirects to ``redirect_uri``."""
        submitted_login = False
        for _ in range(MAX_HOPS):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if _same_endpoint(location, redirect_uri):
                    return location
                response = self.client.get(location)
                continue
            page = _parse_page(response.text)
            if response.status_code != 200:
                raise SignInError(
                    f"provider answered {response.status_code} at {response.url}: "
                    + " ".join(page.text)[:300]
                )
            login_form = next(
                (f for f in page.forms if f.input_types.get("password") == "password"), None
            )
            if login_form is not None:
                if submitted_login:
                    reason = " ".join(page.errors) or "login form shown again"
                    raise SignInError(f"sign-in rejected for {username!r}: {reason}")
                submitted_login = True
                data = dict(login_form.fields)
                data["login"] = username
                data["password"] = password
                response = self.client.post(
                    urljoin(str(response.url), login_form.action), data=data
                )
                continue
            consent_form = next(
                (f for f in page.forms if f.fields.get("prompt") == "consent"), None
            )
            if consent_form is not None:
                response = self.client.post(
                    urljoin(str(response.url), consent_form.action), data=consent_form.fields
                )
                continue
            raise SignInError(f"unexpected page at {response.url}: " + " ".join(page.text)[:300])
        raise SignInError(f"more than {MAX_HOPS} hops without reaching the redirect URI")

    # refresh

    def refresh(self, refresh_token: str, *, client_id: str = DEFAULT_CLIENT_ID) -> Tokens:
        data = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
        }
        return _token_response(self.client.post(self._endpoint("token_endpoint"), data=data))

    # RP-initiated logout

    def end_session(
        self,
        id_token: str,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        post_logout_redirect_uri: str | None = None,
        state: str | None = None,
    ) -> str | None:
        """End the provider session (GET end_session_endpoint, confirm with ``logout=yes``).

        Returns the post-logout redirect location, or None when the provider shows its own
        "signed out" page (no ``post_logout_redirect_uri`` given).
        """
        params = {"id_token_hint": id_token, "client_id": client_id}
        if post_logout_redirect_uri is not None:
            params["post_logout_redirect_uri"] = post_logout_redirect_uri
        if state is not None:
            params["state"] = state
        response = self.client.get(self._endpoint("end_session_endpoint"), params=params)
        if response.status_code != 200:
            raise SignInError(f"end_session answered {response.status_code}: {response.text[:300]}")
        page = _parse_page(response.text)
        form = next((f for f in page.forms if "xsrf" in f.fields), None)
        if form is None:
            raise SignInError("end_session page has no confirm form: " + " ".join(page.text)[:300])
        data = dict(form.fields)
        data["logout"] = "yes"
        response = self.client.post(urljoin(str(response.url), form.action), data=data)
        for _ in range(MAX_HOPS):
            if not response.is_redirect:
                break
            location = urljoin(str(response.url), response.headers["location"])
            if post_logout_redirect_uri is not None and _same_endpoint(
                location, post_logout_redirect_uri
            ):
                return location
            response = self.client.get(location)
        if response.status_code != 200:
            raise SignInError(f"logout confirm answered {response.status_code}")
        return None


# -- module-level conveniences ------------------------------------------------------------------


def sign_in(
    issuer: str,
    username: str,
    password: str,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    scope: str = DEFAULT_SCOPE,
    resource: str | None = None,
    prompt: str | None = None,
) -> Tokens:
    """Sign in with a throwaway :class:`Browser` (fresh cookie jar)."""
    with Browser(issuer) as browser:
        return browser.sign_in(
            username,
            password,
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=scope,
            resource=resource,
            prompt=prompt,
        )


def refresh(issuer: str, refresh_token: str, *, client_id: str = DEFAULT_CLIENT_ID) -> Tokens:
    """Redeem a refresh token (public client: the provider rotates it)."""
    with Browser(issuer) as browser:
        return browser.refresh(refresh_token, client_id=client_id)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devidp.signin",
        description="Sign in to the dev IdP (authorization code + PKCE) and print the tokens.",
    )
    parser.add_argument("username")
    parser.add_argument("password")
    parser.add_argument("--issuer", default="http://127.0.0.1:9400")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--redirect-uri", default=DEFAULT_REDIRECT_URI)
    parser.add_argument("--scope", default=DEFAULT_SCOPE)
    parser.add_argument("--resource", default=None)
    parser.add_argument("--prompt", default=None)
    parser.add_argument(
        "--offline", action="store_true", help="add offline_access + prompt=consent (refresh token)"
    )
    parser.add_argument(
        "--decode", action="store_true", help="also print the decoded (unverified) JWT claims"
    )
    args = parser.parse_args(argv)

    scope, prompt = args.scope, args.prompt
    if args.offline:
        if "offline_access" not in scope.split():
            scope += " offline_access"
        prompt = prompt or "consent"
    try:
        tokens = sign_in(
            args.issuer,
            args.username,
            args.password,
            client_id=args.client_id,
            redirect_uri=args.redirect_uri,
            scope=scope,
            resource=args.resource,
            prompt=prompt,
        )
    except (SignInError, httpx.HTTPError) as exc:
        print(f"sign-in failed: {exc}", file=sys.stderr)
        return 1
    out: dict[str, Any] = asdict(tokens)
    if args.decode:
        out["decoded"] = {
            name: dict(zip(("header", "payload"), decode_jwt_unverified(value), strict=True))
            for name, value in (
                ("access_token", tokens.access_token),
                ("id_token", tokens.id_token),
            )
            if value.count(".") == 2
        }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
