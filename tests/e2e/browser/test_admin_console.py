"""The admin console in real headless Chromium, against the real server and two real providers.

One story, in order, on one stack: alice is refused, dana adds a second provider at runtime,
its user chats without a restart, dana disables it and blocks bob, and the audit shows it all.
"""

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Response, expect

from tests.e2e.browser.admin_page import (
    PROPAGATION_MS,
    AdminPage,
    Pages,
    expect_chat_ended,
    sign_in_with,
)
from tests.e2e.browser.admin_stack import AdminStack, admin_stack
from tests.e2e.browser.chat_page import ChatPage

pytestmark = pytest.mark.browser

ROOM = "general"
SECOND = "second"
SECOND_NAME = "Second IdP"
CHECKS = (
    "issuer_url",
    "destination",
    "discovery",
    "issuer_match",
    "endpoints",
    "jwks",
    "key_count",
    "algorithms",
    "key_sizes",
    "pkce",
    "backchannel_logout",
)
FIELDS = (
    "id",
    "name",
    "client_id",
    "audience",
    "scopes",
    "required_scopes",
    "algorithms",
    "mode",
    "leeway_seconds",
    "groups_claim",
)
PROVIDER_DISABLED = "Sign-in with this identity provider was turned off by an administrator."
BLOCKED = "Your account was blocked by an administrator."
NAV = ("providers", "rooms", "users", "audit", "cluster")


def admin_url(console: AdminStack) -> re.Pattern[str]:
    """/admin, with or without the console's own route in the fragment."""
    return re.compile(re.escape(f"{console.url}/admin") + r"(#.*)?$")


def unique(text: str) -> str:
    return f"{text} #{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def console(spa_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminStack]:
    """Two real dev providers (the second not in the file) and the chat server."""
    with admin_stack(spa_dist, tmp_path_factory.mktemp("admin-db"), second_id=SECOND) as shared:
        yield shared


@pytest.fixture(scope="module")
def pages(browser: Browser) -> Iterator[Pages]:
    opened = Pages(browser)
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def no_page_errors(pages: Pages) -> Iterator[None]:
    yield
    assert pages.take_errors() == [], "uncaught errors or CSP violations in the SPA"


@pytest.fixture(scope="module")
def dana(pages: Pages, console: AdminStack) -> AdminPage:
    """The admin, signed in to the console with the file's dev provider."""
    admin = AdminPage(pages.new(), console.url, console.chat.idp.issuer)
    admin.sign_in("dana")
    return admin


@pytest.fixture(scope="module")
def second_alice(pages: Pages, console: AdminStack) -> ChatPage:
    """alice of the second provider, in her own browser context (signed in by a test)."""
    return ChatPage(pages.new(1000, 700), console.url, console.second.issuer)


@pytest.fixture(scope="module")
def bob(pages: Pages, console: AdminStack) -> ChatPage:
    """bob of the dev provider, in his own browser context (signed in by a test)."""
    return ChatPage(pages.new(1000, 700), console.url, console.chat.idp.issuer)


def test_a_user_who_is_not_an_admin_gets_the_not_an_administrator_page(
    pages: Pages, console: AdminStack, artifacts: Path
) -> None:
    alice = AdminPage(pages.new(), console.url, console.chat.idp.issuer)
    answers: list[tuple[str, int]] = []

    def on_response(response: Response) -> None:
        path = urlsplit(response.url).path
        if path.startswith("/api/admin"):
            answers.append((path, response.status))

    alice.page.on("response", on_response)
    alice.sign_in("alice")
    denied = alice.by("admin-denied")
    expect(denied).to_contain_text("not an administrator")
    expect(alice.page).to_have_url(admin_url(console))
    # Nothing of the API's data: no console, and the page asked the API only who she is.
    expect(alice.by("admin-view")).to_have_count(0)
    expect(alice.page.locator('[data-testid^="provider-"]')).to_have_count(0)
    text = alice.page.locator("body").inner_text()
    for secret in (console.chat.idp.issuer, "urn:sso-chat:api", "chat-spa", "Dana Diaz"):
        assert secret not in text
    assert {path for path, _ in answers} == {"/api/admin/me"}, answers
    assert 403 in {status for _, status in answers}, answers
    alice.screenshot(artifacts, "denied")


def test_the_admin_signs_in_and_sees_the_console_with_the_dev_provider_ok(
    dana: AdminPage, console: AdminStack, artifacts: Path
) -> None:
    expect(dana.by("admin-view")).to_be_visible()
    expect(dana.page).to_have_url(admin_url(console))
    expect(dana.by("admin-signed-in-as")).to_contain_text("Dana Diaz")
    for view in NAV:
        expect(dana.by(f"admin-nav-{view}")).to_be_visible()
    dana.show("providers")
    expect(dana.by("provider-row-dev")).to_be_visible()
    expect(dana.provider_state("dev")).to_have_text("ok")
    expect(dana.by("provider-toggle-dev")).to_have_text("Disable")
    expect(dana.by("provider-add")).to_be_visible()
    dana.screenshot(artifacts, "providers")
    # Disabling the provider she is signed in with is refused, in plain words.
    dana.by("provider-toggle-dev").click()
    expect(dana.status).to_contain_text("You are signed in with this provider")
    expect(dana.provider_state("dev")).to_have_text("ok")

    rooms = dana.show("rooms")
    expect(rooms.get_by_test_id("room-row-general")).to_contain_text("General")
    expect(rooms.get_by_test_id("room-row-engineering")).to_contain_text("engineering")
    dana.screenshot(artifacts, "rooms")


def test_the_admin_adds_tests_previews_and_enables_a_second_provider(
    dana: AdminPage, console: AdminStack, artifacts: Path
) -> None:
    dana.start_wizard()
    checks = dana.test_issuer(console.second.issuer)
    for name in CHECKS:
        check = checks.get_by_test_id(f"check-{name}")
        expect(check).to_have_attribute("data-ok", "true")
        expect(check).to_contain_text(name)
    expect(checks.locator('[data-testid^="check-"]')).to_have_count(len(CHECKS))
    for name in FIELDS:
        expect(dana.field(name)).to_be_visible()
        # Every input has a label: its accessible name is not empty.
        expect(dana.field(name)).to_have_accessible_name(re.compile(r"\S"))
    dana.screenshot(artifacts, "wizard-checks")

    dana.fill_fields(
        {
            "id": SECOND,
            "name": SECOND_NAME,
            "client_id": "chat-spa",
            "audience": "urn:sso-chat:api",
            "required_scopes": "chat:write",
            "scopes": "openid profile email groups offline_access chat:read chat:write",
        }
    )
    dana.save_wizard()
    saved = dana.api(f"/providers/{SECOND}")
    assert saved["status"] == 200, saved
    assert saved["body"]["provider"]["enabled"] is False, "saved disabled"
    assert saved["body"]["provider"]["issuer"] == console.second.issuer

    result = dana.preview_claims({"sub": "x", "groups": ["staff"]})
    for shown in ("x", "staff", ROOM):
        expect(result).to_contain_text(shown)
    expect(result).not_to_contain_text("engineering")  # that room needs the engineering group
    dana.screenshot(artifacts, "preview-result")

    dana.by("wizard-enable").click()
    dana.show("providers")
    expect(dana.by(f"provider-toggle-{SECOND}")).to_have_text("Disable")
    expect(dana.provider_state(SECOND)).to_have_text(re.compile(r"^(ok|not loaded yet)$"))
    assert dana.api(f"/providers/{SECOND}")["body"]["provider"]["enabled"] is True


def test_a_user_of_the_new_provider_signs_in_to_the_chat_without_a_restart(
    second_alice: ChatPage,
) -> None:
    second_alice.open()
    expect(second_alice.page.get_by_test_id(f"sign-in-{SECOND}")).to_contain_text(SECOND_NAME)
    sign_in_with(second_alice, SECOND, "alice")
    second_alice.join(ROOM)
    text = unique("signed in with the second provider")
    second_alice.send(text)
    second_alice.expect_message(text, "Alice Anderson")


def test_disabling_the_provider_ends_its_users_chat_with_a_clear_message(
    dana: AdminPage, second_alice: ChatPage
) -> None:
    second_alice.expect_connected()
    dana.show("providers")
    dana.toggle_provider(SECOND, "disabled")
    expect(dana.by(f"provider-toggle-{SECOND}")).to_have_text("Enable")
    expect_chat_ended(second_alice, "provider_disabled", PROVIDER_DISABLED)


def test_blocking_bob_ends_his_open_chat(dana: AdminPage, bob: ChatPage, artifacts: Path) -> None:
    bob.sign_in("bob", "bob-password")
    bob.join(ROOM)
    expect(bob.page.get_by_test_id("chat-admin-link")).to_be_hidden()  # not an admin
    detail = dana.open_user("bob", "Bob Brown")
    expect(detail).to_contain_text("dev")
    expect(detail).to_contain_text("staff")
    expect(detail.get_by_test_id("user-live-sessions")).to_have_text(re.compile(r"^1\b"))
    dana.screenshot(artifacts, "users")
    dana.by("user-block").click()
    said = dana.confirm()
    assert re.search(r"\b1\b", said), f"the dialog says one live session ends: {said!r}"
    expect_chat_ended(bob, "blocked", BLOCKED)
    expect(dana.by("user-unblock")).to_be_visible(timeout=PROPAGATION_MS)


def test_the_audit_view_shows_every_action_and_an_intact_chain(
    dana: AdminPage, console: AdminStack, artifacts: Path
) -> None:
    dana.show("audit")
    head = dana.chain_intact_up_to()
    expect(dana.audit_rows("provider.create", SECOND)).to_have_count(1)
    expect(dana.audit_rows("provider.update", SECOND)).to_have_count(2)  # enabled, disabled
    expect(dana.audit_rows("user.block", "Dana Diaz")).to_have_count(1)
    # Asking /me ("am I an admin?", which the chat does for its admin link and the console at
    # start) is no attack: the non-admins' noes leave no entry.
    expect(dana.audit_rows("admin.refused")).to_have_count(0)
    ids = [
        int(str(row.get_attribute("data-testid")).rsplit("-", 1)[1])
        for row in dana.audit_rows().all()
    ]
    assert ids, "the trail is listed"
    assert max(ids) <= head, (ids, head)
    created = dana.audit_rows("provider.create", SECOND)
    diff = created.locator('[data-testid^="audit-diff-"]')
    diff.locator("summary").click()
    expect(diff).to_contain_text("issuer")
    expect(diff).to_contain_text(console.second.issuer)
    dana.screenshot(artifacts, "audit")

    dana.by("audit-filter-action").fill("user.block")
    expect(dana.audit_rows()).to_have_count(1)
    expect(dana.audit_rows("user.block")).to_have_count(1)


def test_the_console_fits_a_narrow_window(dana: AdminPage, artifacts: Path) -> None:
    dana.page.set_viewport_size({"width": 400, "height": 800})
    for view in (*NAV[1:], NAV[0]):  # every view, ending on the providers list
        dana.show(view)  # each navigation button is reachable and works at this width
        widths = dana.page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"the {view} view scrolls sideways: {widths}"
    for view in NAV:
        expect(dana.by(f"admin-nav-{view}")).to_be_visible()
    expect(dana.by("provider-row-dev")).to_be_visible()
    expect(dana.by(f"provider-row-{SECOND}")).to_be_visible()
    dana.screenshot(artifacts, "narrow")
