"""Browser fixtures: the built SPA, the real dev provider, the real chat server, headless Chromium."""

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Route, sync_playwright

from tests.e2e.browser.chat_page import ChatPage
from tests.e2e.browser.stack import ChatStack, chat_stack

ROOT = Path(__file__).resolve().parents[3]
FRONTEND = ROOT / "frontend"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Keep the browser off the network: only our loopback servers resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
LOOPBACK = {"127.0.0.1", "localhost"}
_SOURCES = (
    "src",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
)


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in _SOURCES:
        path = FRONTEND / name
        files = path.rglob("*") if path.is_dir() else [path]
        newest = max([newest, *(f.stat().st_mtime for f in files if f.is_file())])
    return newest


def _npm(*args: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not on PATH: Node.js 20.19+ is needed to build the SPA")
    subprocess.run([npm, *args], cwd=FRONTEND, check=True, timeout=600)


@pytest.fixture(scope="session")
def spa_dist() -> Path:
    """frontend/dist, rebuilt when missing or older than the sources."""
    index = FRONTEND / "dist" / "index.html"
    if not index.is_file() or index.stat().st_mtime < _newest_source_mtime():
        if not (FRONTEND / "node_modules").is_dir():
            _npm("ci", "--no-audit", "--no-fund")
        _npm("run", "build")
    return index.parent


@pytest.fixture(scope="module")
def stack(spa_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatStack]:
    """Shared by a module's tests; each writes unique texts, so the others' history is harmless."""
    with chat_stack(spa_dist, tmp_path_factory.mktemp("chat-db")) as shared:
        yield shared


@pytest.fixture(scope="module")
def base_url(stack: ChatStack) -> str:
    return stack.url


@pytest.fixture(scope="module")
def idp_issuer(stack: ChatStack) -> str:
    return stack.idp.issuer


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope, not session: the sync API keeps an event loop in this thread while it runs,
    # which would break the pytest-asyncio tests collected after this module.
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _loopback_only(route: Route) -> None:
    # The provider's pages may reference external resources (fonts): nothing leaves the machine.
    if urlsplit(route.request.url).hostname in LOOPBACK:
        route.continue_()
    else:
        route.abort()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[[], BrowserContext]]:
    """Fresh, isolated browser contexts (one per user), closed after the test."""
    contexts: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(viewport={"width": 1000, "height": 700})
        context.route("**/*", _loopback_only)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def new_user(
    new_context: Callable[[], BrowserContext], stack: ChatStack
) -> Iterator[Callable[..., ChatPage]]:
    """A ChatPage in a new context (or the given one, on the given stack).

    Uncaught errors and Content-Security-Policy violations in the page fail the test.
    """
    errors: list[str] = []

    def make(context: BrowserContext | None = None, on: ChatStack = stack) -> ChatPage:
        page = (context or new_context()).new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console",
            lambda message: (
                errors.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        return ChatPage(page, on.url, on.idp.issuer)

    yield make
    assert errors == [], f"uncaught errors in the SPA: {errors}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def short_lived_stack(spa_dist: Path, tmp_path: Path) -> Iterator[ChatStack]:
    """A stack whose access tokens live 65 s: oidc-client-ts renews 60 s before expiry."""
    with chat_stack(spa_dist, tmp_path, access_token_ttl=65) as short:
        yield short


@pytest.fixture
def id_token_only_stack(spa_dist: Path, tmp_path: Path) -> Iterator[ChatStack]:
    """A stack whose provider is in mode "id_token_only": the web app sends the ID token alone."""
    with chat_stack(
        spa_dist, tmp_path, mode="id_token_only", audience="", required_scopes=[]
    ) as stack:
        yield stack
