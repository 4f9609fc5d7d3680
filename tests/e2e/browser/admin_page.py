"""Page objects for the admin console at /admin, and the pages the admin tests keep open."""

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Locator, Page, Route, expect

from tests.e2e.browser.chat_page import SIGN_IN_TIMEOUT_MS, ChatPage

LOOPBACK = {"127.0.0.1", "localhost"}
CHAIN_INTACT = re.compile(r"Chain intact up to #(\d+)")
# How long a change may take to reach a live session: a few sync intervals and a round trip.
PROPAGATION_MS = 5_000


def _loopback_only(route: Route) -> None:
    # The provider's pages may reference external resources (fonts): nothing leaves the machine.
    if urlsplit(route.request.url).hostname in LOOPBACK:
        route.continue_()
    else:
        route.abort()


class Pages:
    """Pages in fresh browser contexts (one per person) that outlive a single test.

    Uncaught errors and Content-Security-Policy violations of every page are collected in
    ``errors``; the tests fail when any appear.
    """

    def __init__(self, browser: Browser) -> None:
        self._browser = browser
        self._contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    def new(self, width: int = 1280, height: int = 800) -> Page:
        context = self._browser.new_context(viewport={"width": width, "height": height})
        context.route("**/*", _loopback_only)
        self._contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on(
            "console",
            lambda message: (
                self.errors.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )
        return page

    def take_errors(self) -> list[str]:
        taken, self.errors = self.errors, []
        return taken

    def close(self) -> None:
        for context in self._contexts:
            context.close()


def sign_in_with(user: ChatPage, provider_id: str, username: str) -> None:
    """Signs ``user`` in to the chat with the provider ``provider_id`` (``user.issuer``)."""
    user.open()
    user.page.get_by_test_id(f"sign-in-{provider_id}").click()
    user.page.wait_for_url(f"{user.issuer}/interaction/**")
    user.submit_login(username, f"{username}-password")
    user.finish_sign_in()


def expect_chat_ended(user: ChatPage, code: str, text: str) -> None:
    """The chat ended with the notice of ``code``, in plain words, within a few seconds."""
    expect(user.page.get_by_test_id("signed-out-view")).to_be_visible(timeout=PROPAGATION_MS)
    notice = user.page.get_by_test_id("notice")
    expect(notice).to_have_attribute("data-code", code)
    expect(notice).to_have_text(text)


class AdminPage:
    """One person at /admin in one browser context."""

    def __init__(self, page: Page, base_url: str, issuer: str) -> None:
        self.page = page
        self.base_url = base_url
        self.issuer = issuer
        self._login = ChatPage(page, base_url, issuer)  # the provider's login form

    def by(self, test_id: str) -> Locator:
        return self.page.get_by_test_id(test_id)

    @property
    def status(self) -> Locator:
        return self.by("admin-status")

    # -- signing in -----------------------------------------------------------------------

    def open(self) -> None:
        self.page.goto(self.base_url + "/admin")

    def sign_in(self, username: str, provider_id: str = "dev") -> None:
        """Opens /admin, signs in at the provider, and waits for the console or the refusal."""
        self.open()
        button = self.by(f"sign-in-{provider_id}")
        form = self.page.locator("input[name=password]")
        expect(button.or_(form)).to_be_visible(timeout=SIGN_IN_TIMEOUT_MS)
        if button.is_visible():
            button.click()
        self.page.wait_for_url(f"{self.issuer}/interaction/**")
        self._login.submit_login(username, f"{username}-password")
        proceed = self.page.get_by_role("button", name="Continue")
        done = self.by("admin-view").or_(self.by("admin-denied"))
        expect(proceed.or_(done)).to_be_visible(timeout=SIGN_IN_TIMEOUT_MS)
        if proceed.is_visible():
            proceed.click()
        expect(done).to_be_visible(timeout=SIGN_IN_TIMEOUT_MS)

    # -- navigation -----------------------------------------------------------------------

    def show(self, view: str) -> Locator:
        """Opens a view of the console (providers, rooms, users, audit, cluster) by its navigation."""
        self.by(f"admin-nav-{view}").click()
        section = self.by(f"{view}-view")
        expect(section).to_be_visible()
        return section

    def screenshot(self, artifacts: Path, name: str) -> Path:
        folder = artifacts / "admin"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def confirm(self) -> str:
        """Accepts the open confirmation dialog; returns what it said."""
        dialog = self.by("confirm-dialog")
        expect(dialog).to_be_visible()
        said = dialog.inner_text()
        dialog.get_by_test_id("confirm-yes").click()
        expect(dialog).to_be_hidden()
        return said

    def api(self, path: str) -> Any:
        """GET /api/admin<path> with this page's own tokens, as the console sends them."""
        key = f"oidc.user:{self.issuer}:chat-spa"
        return self.page.evaluate(
            """async ([path, key]) => {
                const user = JSON.parse(sessionStorage.getItem(key));
                const response = await fetch('/api/admin' + path, {headers: {
                    Authorization: 'Bearer ' + user.access_token, 'X-Id-Token': user.id_token}});
                return {status: response.status, body: await response.json()};
            }""",
            [path, key],
        )

    # -- providers ------------------------------------------------------------------------

    def provider_state(self, provider_id: str) -> Locator:
        return self.by(f"provider-state-{provider_id}")

    def toggle_provider(self, provider_id: str, expected_state: str) -> None:
        """Enable/Disable, confirming if the console asks; waits for ``expected_state``."""
        self.by(f"provider-toggle-{provider_id}").click()
        state = self.provider_state(provider_id)
        dialog = self.by("confirm-dialog")
        expect(dialog.or_(state.filter(has_text=expected_state))).to_be_visible()
        if dialog.is_visible():
            self.confirm()
        expect(state).to_have_text(expected_state)

    def start_wizard(self) -> Locator:
        self.show("providers")
        self.by("provider-add").click()
        wizard = self.by("provider-wizard")
        expect(wizard).to_be_visible()
        return wizard

    def test_issuer(self, issuer: str) -> Locator:
        """Step 1: types the issuer and runs the test; returns the list of checks."""
        self.by("wizard-issuer").fill(issuer)
        self.by("wizard-test").click()
        checks = self.by("wizard-checks")
        expect(checks).to_be_visible(timeout=SIGN_IN_TIMEOUT_MS)
        return checks

    def field(self, name: str) -> Locator:
        return self.by(f"field-{name}")

    def fill_fields(self, values: dict[str, str]) -> None:
        """Step 2: replaces the given fields' defaults (a select by its option value)."""
        for name, value in values.items():
            field = self.field(name)
            if field.evaluate("e => e.tagName") == "SELECT":
                field.select_option(value)
            else:
                field.fill(value)

    def save_wizard(self) -> None:
        """Saves the new provider (disabled) and waits for the preview step."""
        self.by("wizard-save").click()
        expect(self.by("wizard-preview-claims")).to_be_visible()

    def preview_claims(self, claims: dict[str, Any]) -> Locator:
        """Step 3: previews a claims object; returns the result."""
        self.by("wizard-preview-claims").fill(json.dumps(claims))
        self.by("wizard-preview").click()
        result = self.by("preview-result")
        expect(result).to_be_visible()
        return result

    # -- users and audit ------------------------------------------------------------------

    def open_user(self, query: str, name: str) -> Locator:
        """Searches the users, opens the one row showing ``name``; returns its detail."""
        self.show("users")
        search = self.by("user-search")
        search.fill(query)
        search.press("Enter")
        row = self.page.locator('[data-testid^="user-row-"]').filter(has_text=name)
        expect(row).to_have_count(1)
        row.click()
        detail = self.by("user-detail")
        expect(detail).to_contain_text(name)
        return detail

    def audit_rows(self, *texts: str) -> Locator:
        """The audit rows that show every one of ``texts``."""
        rows = self.page.locator('[data-testid^="audit-row-"]')
        for text in texts:
            rows = rows.filter(has_text=text)
        return rows

    def chain_intact_up_to(self) -> int:
        status = self.by("audit-chain-status")
        expect(status).to_have_text(CHAIN_INTACT)
        found = CHAIN_INTACT.search(status.inner_text())
        assert found is not None
        return int(found.group(1))
