"""The admin's two dry runs, through the API against a real server: testing a provider before
adding it, and previewing what the provider's settings make of tokens or claims."""

import time
from typing import Any

import httpx
from joserfc import jwt

from devidp.process import DevIdp
from server.admin import PREFIX
from tests.e2e.conftest import Accounts, ProviderKeys
from tests.e2e.test_admin_api import admin_server, headers
from tests.support.live import LiveServer

__all__ = ["admin_server"]


async def preview(server: LiveServer, dana: dict[str, str], body: dict[str, Any]) -> Any:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(PREFIX + "/providers/dev/preview", json=body, headers=dana)
    assert response.status_code == 200, response.text
    return response.json()["preview"]


async def test_testing_the_dev_provider_passes_every_check(
    admin_server: LiveServer, accounts: Accounts, devidp: DevIdp
) -> None:
    dana = headers(accounts, "dana")
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        response = await http.post(
            PREFIX + "/providers/test", json={"issuer": devidp.issuer}, headers=dana
        )
        assert response.status_code == 200, response.text
        report = response.json()["report"]
        assert report["ok"] is True
        failed = [c for c in report["checks"] if not c["ok"] and c["severity"] == "error"]
        assert failed == []
        assert report["discovered"]["supports_pkce"] is True
        audit = (await http.get(PREFIX + "/audit", headers=dana)).json()["entries"]
        assert audit[-1]["action"] == "provider.test"


async def test_testing_a_provider_that_is_not_one_reports_why_without_fetching_outside(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    dana = headers(accounts, "dana")
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        for issuer, check in (
            ("http://idp.example.com", "issuer_url"),  # http only on loopback
            ("https://169.254.169.254/", "destination"),  # cloud metadata
            (admin_server.url, "discovery"),  # a server that is no provider
        ):
            response = await http.post(
                PREFIX + "/providers/test", json={"issuer": issuer}, headers=dana
            )
            report = response.json()["report"]
            assert report["ok"] is False, issuer
            [first] = [c for c in report["checks"] if not c["ok"]][:1]
            assert first["name"] == check, (issuer, first)
        bad = await http.post(PREFIX + "/providers/test", json={"issuer": 5}, headers=dana)
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "invalid_request"


async def test_previewing_real_tokens_shows_the_identity_and_rooms(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    tokens = accounts.tokens("alice")
    body = {"access_token": tokens.access_token, "id_token": tokens.id_token}
    result = await preview(admin_server, headers(accounts, "dana"), body)
    assert result["accepted"] is True
    assert result["identity"]["name"] == "Alice Anderson"
    assert result["identity"]["email"] == "alice@example.test"
    assert set(result["identity"]["groups"]) == {"staff", "engineering"}
    assert result["rooms"] == ["general", "engineering"]


async def test_previewing_claims_applies_the_admission_rules_and_says_why(
    admin_server: LiveServer, accounts: Accounts
) -> None:
    dana = headers(accounts, "dana")
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        rules = {"admission": {"required_groups": ["engineering"]}}
        assert (
            await http.patch(PREFIX + "/providers/dev", json=rules, headers=dana)
        ).status_code == 200
    bob = await preview(admin_server, dana, {"claims": {"sub": "u-bob", "groups": ["staff"]}})
    assert bob["accepted"] is False
    assert bob["admission"]["code"] == "access_denied"
    assert "engineering" in bob["admission"]["reason"]
    assert bob["rooms"] == ["general"]
    eng = await preview(admin_server, dana, {"claims": {"sub": "u-eve", "groups": ["engineering"]}})
    assert eng["accepted"] is True
    no_subject = await preview(admin_server, dana, {"claims": {"groups": ["engineering"]}})
    assert no_subject == {"accepted": False, "error": no_subject["error"]}
    assert no_subject["error"]["code"] == "invalid_token"


async def test_previewing_a_forged_or_expired_token_is_refused_with_its_code(
    admin_server: LiveServer, accounts: Accounts, devidp: DevIdp, provider_keys: ProviderKeys
) -> None:
    dana = headers(accounts, "dana")
    now = int(time.time())
    expired = jwt.encode(
        {"alg": "RS256", "kid": provider_keys.rsa.kid},
        {
            "iss": devidp.issuer,
            "sub": "u-x",
            "aud": "chat-spa",
            "iat": now - 7200,
            "exp": now - 3600,
        },
        provider_keys.rsa,
    )
    assert (await preview(admin_server, dana, {"id_token": expired}))["error"]["code"] in {
        "token_expired",
        "invalid_request",  # the provider also wants an access token: refused before expiry
    }
    forged = accounts.tokens("alice").id_token[:-4] + "AAAA"
    result = await preview(
        admin_server,
        dana,
        {"access_token": accounts.tokens("alice").access_token, "id_token": forged},
    )
    assert result["accepted"] is False
    assert result["error"]["code"] == "invalid_token"
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        for body in (
            {},
            {"claims": "x"},
            {"id_token": 5},
            {"claims": {}, "id_token": "a"},
            {"other": 1},
        ):
            response = await http.post(PREFIX + "/providers/dev/preview", json=body, headers=dana)
            assert response.status_code == 400, body
        unknown = await http.post(
            PREFIX + "/providers/nope/preview", json={"claims": {"sub": "x"}}, headers=dana
        )
        assert unknown.status_code == 404
