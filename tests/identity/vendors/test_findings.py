"""The five findings of issue 9, each as the vendor's admin met it, with that vendor's tokens.

Each failed on the code before issue 9 (commit 99f1469): the configuration keys did not exist or
the tokens were refused (1-4), or the ID token was accepted as an access token (5).
"""

import pytest

from tests.identity.vendors import test_adfs, test_entra, test_google, test_keycloak, test_okta
from tests.identity.vendors.idp import deploy, provider_from_toml


async def test_finding_1_entra_v2_tokens_with_the_api_guid_audience_paired_on_oid_connect() -> None:
    idp = test_entra.entra()
    access = test_entra.sign(idp, test_entra.access_claims(idp))
    id_token = test_entra.sign(idp, test_entra.id_claims(idp))
    async with deploy(idp, test_entra.TOML) as server:
        identity = await server.connect(access, id_token)
    assert identity.subject == test_entra.OID
    old_readme = test_entra.TOML.replace(
        f'audience = "{test_entra.API}"', f'audience = "api://{test_entra.API}"'
    )
    async with deploy(idp, old_readme) as server:
        assert await server.refused(access, id_token) == "invalid_token"


async def test_finding_2_okta_custom_server_access_uid_pairs_with_the_id_token_sub() -> None:
    idp = test_okta.okta()
    async with deploy(idp, test_okta.TOML) as server:
        identity = await server.connect(*test_okta.sign_in(idp))
    assert identity.subject == test_okta.USER_ID


async def test_finding_3_keycloak_24_access_token_with_the_request_nonce_connects() -> None:
    idp = test_keycloak.keycloak()
    async with deploy(idp, test_keycloak.TOML_24) as server:
        identity = await server.connect(*test_keycloak.sign_in(idp, legacy=True))
    assert identity.subject == test_keycloak.USER


async def test_finding_4_adfs_access_token_from_its_access_token_issuer_connects() -> None:
    idp = test_adfs.adfs()
    access = test_adfs.sign(idp, test_adfs.access_claims(idp))
    async with deploy(idp, test_adfs.TOML) as server:
        identity = await server.connect(access, test_adfs.sign(idp, test_adfs.id_claims(idp)))
    assert identity.issuer == test_adfs.ISSUER
    assert identity.subject == test_adfs.UPN


async def test_finding_5_google_id_token_is_never_taken_for_an_access_token() -> None:
    old_readme = test_google.TOML.replace(
        'mode = "id_token_only"', f'audience = "{test_google.CLIENT}"'
    )
    with pytest.raises(ValueError, match="audience equals client_id"):
        provider_from_toml(old_readme)
    idp = test_google.google()
    id_token = test_google.sign(idp, test_google.id_claims(idp))
    async with deploy(idp, test_google.TOML) as server:
        assert await server.refused(id_token, id_token) == "invalid_token"
        assert (await server.connect(None, id_token)).subject == test_google.USER
