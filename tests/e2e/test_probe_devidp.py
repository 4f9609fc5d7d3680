"""The admin's probe against the real dev provider: discovery, keys and the real resolver."""

import httpx

from devidp.process import DevIdp
from server.providers.probe import probe


async def test_the_dev_provider_probes_ok_with_pkce_and_backchannel_logout(
    devidp: DevIdp,
) -> None:
    async with httpx.AsyncClient() as client:
        report = await probe(client, devidp.issuer, client_id="chat-spa", timeout_seconds=5)
    by_name = {check.name: check for check in report.checks}
    assert [name for name, check in by_name.items() if not check.ok] == []
    assert report.ok
    assert by_name["pkce"].ok
    assert by_name["backchannel_logout"].ok
    found = report.discovered
    assert found.algorithms
    assert set(found.algorithms) <= {"RS256", "ES256"}  # the dev provider's two keys
    assert found.supports_pkce
    assert found.supports_backchannel_logout
    assert found.token_endpoint == f"{devidp.issuer}/token"
    assert "openid" in found.scopes_supported


async def test_the_dev_provider_under_another_spelling_fails_issuer_match(
    devidp: DevIdp,
) -> None:
    async with httpx.AsyncClient() as client:
        report = await probe(client, devidp.issuer + "/")
    failed = [check.name for check in report.checks if not check.ok]
    assert failed == ["issuer_match"]
