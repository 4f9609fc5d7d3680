"""Discovery and JWKS documents: where keys may come from, and what a hostile document costs."""

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from server.identity import TokenVerifier
from tests.identity.conftest import provider_config, refused
from tests.support.clock import FakeClock
from tests.support.fake_idp import FakeIdP
from tests.support.hostile import deep_json

Answer = Callable[[], httpx.Response]


class Documents:
    """The fake provider, with some URLs (host + path) answered otherwise."""

    def __init__(self, idp: FakeIdP) -> None:
        self.idp = idp
        self.answers: dict[str, Answer] = {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        answer = self.answers.get(f"{request.url.host}{request.url.path}")
        return answer() if answer else self.idp.handle(request)

    def discovery(self, **changes: object) -> Answer:
        return lambda: httpx.Response(200, json={**self.idp.discovery(), **changes})


@pytest.fixture
def documents(idp: FakeIdP) -> Documents:
    return Documents(idp)


@pytest.fixture
async def doc_verifier(documents: Documents, clock: FakeClock) -> AsyncIterator[TokenVerifier]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(documents.handle)) as client:
        yield TokenVerifier.build([provider_config(documents.idp)], client, clock)


DISCOVERY = "idp.test/.well-known/openid-configuration"


async def test_a_redirected_discovery_is_not_followed(
    idp: FakeIdP, documents: Documents, doc_verifier: TokenVerifier
) -> None:
    documents.answers[DISCOVERY] = lambda: httpx.Response(
        302, headers={"Location": "https://idp.test/elsewhere"}
    )
    documents.answers["idp.test/elsewhere"] = documents.discovery()
    assert await refused(doc_verifier, idp.access_token(), idp.id_token()) == "idp_unavailable"


async def test_a_jwks_uri_over_plain_http_is_refused(
    idp: FakeIdP, documents: Documents, doc_verifier: TokenVerifier
) -> None:
    documents.answers[DISCOVERY] = documents.discovery(jwks_uri="http://keys.test/jwks")
    documents.answers["keys.test/jwks"] = lambda: httpx.Response(200, json={"keys": idp.published})
    assert await refused(doc_verifier, idp.access_token(), idp.id_token()) == "idp_unavailable"


async def test_a_jwks_over_512_kib_is_refused(
    idp: FakeIdP, documents: Documents, doc_verifier: TokenVerifier
) -> None:
    body = {"keys": idp.published, "padding": "x" * 600_000}
    documents.answers["idp.test/jwks"] = lambda: httpx.Response(200, json=body)
    assert await refused(doc_verifier, idp.access_token(), idp.id_token()) == "idp_unavailable"


@pytest.mark.parametrize("url", [DISCOVERY, "idp.test/jwks"])
async def test_a_document_nested_past_the_recursion_limit_is_idp_unavailable(
    idp: FakeIdP, documents: Documents, doc_verifier: TokenVerifier, url: str
) -> None:
    documents.answers[url] = lambda: httpx.Response(200, content=deep_json())
    assert await refused(doc_verifier, idp.access_token(), idp.id_token()) == "idp_unavailable"


async def test_a_moved_jwks_uri_is_rediscovered_after_a_failure(
    idp: FakeIdP, clock: FakeClock, documents: Documents, doc_verifier: TokenVerifier
) -> None:
    await doc_verifier.verify(idp.access_token(), idp.id_token())
    idp.rotate_key()  # the new key is published at the new address only
    documents.answers[DISCOVERY] = documents.discovery(jwks_uri="https://idp.test/jwks-2")
    documents.answers["idp.test/jwks"] = lambda: httpx.Response(404, json={})
    moved = {"keys": idp.published}
    documents.answers["idp.test/jwks-2"] = lambda: httpx.Response(200, json=moved)
    clock.advance(301)  # the cache expires; the old address fails; stale keys lack the new kid
    assert await refused(doc_verifier, idp.access_token(), idp.id_token()) == "invalid_token"
    clock.advance(31)
    assert (await doc_verifier.verify(idp.access_token(), idp.id_token())).subject == "alice"


@pytest.mark.parametrize(
    "url", ["https://idp.test/a\nb", "https://exa mple.test/", "https://xn--a.test/"]
)
async def test_a_url_httpx_cannot_use_is_idp_unavailable(url: str) -> None:
    from server.identity import IdpUnavailableError
    from server.identity.providers import fetch_json

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(200))
    ) as http:
        with pytest.raises(IdpUnavailableError):
            await fetch_json(http, url, 1.0)
