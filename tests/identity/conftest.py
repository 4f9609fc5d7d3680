import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from server.config import ProviderConfig
from server.identity import IdentityError, TokenVerifier
from tests.support.clock import FakeClock
from tests.support.fake_idp import FakeIdP


def provider_config(idp: FakeIdP, **overrides: object) -> ProviderConfig:
    values: dict[str, object] = {
        "id": "fake",
        "issuer": idp.issuer,
        "client_id": idp.client_id,
        "audience": idp.audience,
        "required_scopes": ["chat:write"],
    }
    values.update(overrides)
    return ProviderConfig.model_validate(values)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def idp(clock: FakeClock) -> FakeIdP:
    return FakeIdP(now=clock.now)


@pytest.fixture
async def http(idp: FakeIdP) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=idp.transport()) as client:
        yield client


@pytest.fixture
def verifier(idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock) -> TokenVerifier:
    return TokenVerifier.build([provider_config(idp)], http, clock)


class SlowProvider:
    """The fake provider behind a transport that yields on every request, as a network does, so
    concurrent fetches really overlap; counts every request, failed ones too."""

    def __init__(self, idp: FakeIdP, delay: float = 0.01) -> None:
        self.idp = idp
        self.delay = delay
        self.requests = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        await asyncio.sleep(self.delay)
        return self.idp.handle(request)


@pytest.fixture
def slow(idp: FakeIdP) -> SlowProvider:
    return SlowProvider(idp)


@pytest.fixture
async def slow_verifier(slow: SlowProvider, clock: FakeClock) -> AsyncIterator[TokenVerifier]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(slow.handle)) as client:
        yield TokenVerifier.build([provider_config(slow.idp)], client, clock)


async def refused(verifier: TokenVerifier, access: object, id_token: object | None) -> str:
    """The code of the refusal; fails the test if the tokens are accepted."""
    with pytest.raises(IdentityError) as info:
        await verifier.verify(access, id_token)
    return info.value.code
