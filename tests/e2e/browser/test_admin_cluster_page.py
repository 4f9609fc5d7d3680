"""The admin console's Cluster page in real headless Chromium, against one real server process."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Request, expect

from tests.e2e.browser.admin_page import AdminPage, Pages
from tests.e2e.browser.admin_stack import AdminStack, admin_stack
from tests.e2e.browser.chat_page import ChatPage

pytestmark = pytest.mark.browser

# The page reloads every 5 s while visible: one reload must come within this, none after leaving.
RELOAD_WAIT_MS = 7_000


@pytest.fixture(scope="module")
def console(spa_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminStack]:
    with admin_stack(spa_dist, tmp_path_factory.mktemp("cluster-db")) as shared:
        yield shared


@pytest.fixture(scope="module")
def pages(browser: Browser) -> Iterator[Pages]:
    opened = Pages(browser)
    yield opened
    opened.close()


def test_one_process_shows_mode_off_and_itself_alive_with_the_chat_socket(
    pages: Pages, console: AdminStack, artifacts: Path
) -> None:
    bob = ChatPage(pages.new(1000, 700), console.url, console.chat.idp.issuer)
    bob.sign_in("bob", "bob-password")  # one chat socket on this process
    dana = AdminPage(pages.new(), console.url, console.chat.idp.issuer)
    dana.sign_in("dana")
    expect(dana.by("admin-nav-cluster")).to_have_text("Cluster")

    view = dana.show("cluster")
    expect(dana.page).to_have_url(re.compile(r"/admin#/cluster$"))
    expect(dana.by("cluster-mode")).to_have_text("One process")
    expect(dana.by("cluster-status")).to_have_text("off")
    expect(dana.by("cluster-status-detail")).to_contain_text("One process")
    expect(dana.by("cluster-online")).to_have_text("1 user, on this process")
    rows = view.locator('[data-testid^="cluster-node-"][data-alive]')
    expect(rows).to_have_count(1)
    node = rows.first
    node_id = dana.api("/cluster")["body"]["cluster"]["node"]
    expect(node).to_have_attribute("data-testid", f"cluster-node-{node_id}")
    expect(node.locator("code")).to_have_text(node_id[:8])
    expect(node.locator("code")).to_have_attribute("title", node_id)
    expect(node.get_by_test_id("cluster-node-here")).to_have_text("this process")
    expect(node.get_by_test_id("cluster-node-state")).to_have_text("alive")
    expect(node.get_by_test_id("cluster-node-sockets")).to_have_text("1")
    expect(node.get_by_test_id("cluster-node-users")).to_have_text("1")
    expect(node.locator("time")).to_have_count(2)  # started, last heartbeat
    dana.by("cluster-refresh").click()
    expect(dana.status).to_have_text("1 node loaded.")
    dana.screenshot(artifacts, "cluster")

    # Auto-refresh while shown; none once the admin has moved on.
    asked: list[str] = []

    def on_request(request: Request) -> None:
        if request.url.endswith("/api/admin/cluster"):
            asked.append(request.url)

    with dana.page.expect_request("**/api/admin/cluster", timeout=RELOAD_WAIT_MS):
        pass
    dana.show("rooms")
    dana.page.on("request", on_request)
    dana.page.wait_for_timeout(RELOAD_WAIT_MS)
    assert asked == [], "the cluster page kept reloading after the admin left it"

    dana.page.set_viewport_size({"width": 400, "height": 800})
    dana.show("cluster")
    expect(dana.by("cluster-node-here")).to_be_visible()
    widths = dana.page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"the cluster view scrolls sideways: {widths}"
    dana.screenshot(artifacts, "cluster-narrow")
    assert pages.take_errors() == [], "uncaught errors or CSP violations in the SPA"
