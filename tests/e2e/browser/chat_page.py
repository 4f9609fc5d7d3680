"""Page objects for the browser tests: the SPA, the dev provider's forms, and a socket cutter."""

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import Locator, Page, WebSocketRoute, expect

SIGN_IN_TIMEOUT_MS = 15_000


class ChatPage:
    """One signed-in (or signing-in) user in one browser context."""

    def __init__(self, page: Page, base_url: str, issuer: str) -> None:
        self.page = page
        self.base_url = base_url
        self.issuer = issuer

    # -- provider -------------------------------------------------------------------------

    def open(self) -> None:
        self.page.goto(self.base_url + "/")
        expect(self.page.get_by_test_id("signed-out-view")).to_be_visible()

    def start_sign_in(self) -> None:
        """From the signed-out view to the provider's login form."""
        self.page.get_by_test_id("sign-in-dev").click()
        self.page.wait_for_url(f"{self.issuer}/interaction/**")
        expect(self.page.locator("input[name=password]")).to_be_visible()

    def start_sign_in_with_provider_session(self) -> None:
        """Sign-in when the provider already knows this browser: no login form (SSO)."""
        self.page.get_by_test_id("sign-in-dev").click()

    def submit_login(self, username: str, password: str) -> None:
        self.page.locator("input[name=login]").fill(username)
        self.page.locator("input[name=password]").fill(password)
        self.page.get_by_role("button", name="Sign-in").click()

    def finish_sign_in(self) -> None:
        """Confirms the consent page if it shows (prompt=consent), then waits for the chat."""
        proceed = self.page.get_by_role("button", name="Continue")
        chat = self.page.get_by_test_id("chat-view")
        expect(proceed.or_(chat)).to_be_visible(timeout=SIGN_IN_TIMEOUT_MS)
        if proceed.is_visible():
            proceed.click()
        expect(chat).to_be_visible(timeout=SIGN_IN_TIMEOUT_MS)
        self.expect_connected()

    def sign_in(self, username: str, password: str) -> None:
        self.open()
        self.start_sign_in()
        self.submit_login(username, password)
        self.finish_sign_in()

    def sign_out(self) -> None:
        """Signs out in the SPA and confirms the provider's logout form."""
        self.page.get_by_test_id("sign-out").click()
        self.page.wait_for_url(f"{self.issuer}/**")
        self.page.get_by_role("button", name="Yes, sign me out").click()
        self.page.wait_for_url(self.base_url + "/**")
        expect(self.page.get_by_test_id("signed-out-view")).to_be_visible()

    # -- chat -----------------------------------------------------------------------------

    def expect_connected(self) -> None:
        status = self.page.get_by_test_id("connection-status")
        expect(status).to_have_attribute("data-state", "connected", timeout=SIGN_IN_TIMEOUT_MS)

    def join(self, slug: str) -> None:
        self.page.get_by_test_id(f"room-{slug}").click()
        expect(self.page.get_by_test_id("room-title")).to_have_attribute("data-room", slug)

    def send(self, text: str) -> None:
        box = self.page.get_by_test_id("message-input")
        box.fill(text)
        box.press("Enter")

    def messages(self, text: str | None = None) -> Locator:
        items = self.page.get_by_test_id("message-list").get_by_test_id("message")
        if text is None:
            return items
        return items.filter(
            has=self.page.get_by_test_id("message-text").get_by_text(text, exact=True)
        )

    def expect_message(self, text: str, sender: str) -> Locator:
        """Exactly one stored message with this text, shown with this sender's name."""
        item = self.messages(text)
        expect(item).to_have_count(1)
        expect(item).to_have_attribute("data-state", "sent")
        expect(item.get_by_test_id("message-sender")).to_have_text(sender)
        return item

    def pwned(self) -> Any:
        return self.page.evaluate("() => window.__pwned")


def socketio_event(frame: str | bytes) -> tuple[str, dict[str, Any]] | None:
    """Decodes an Engine.IO/Socket.IO text frame ``42<ack id>["event", {payload}]``."""
    if not isinstance(frame, str) or not frame.startswith("42"):
        return None
    body = frame[2:].lstrip("0123456789")
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    if not isinstance(decoded, list) or len(decoded) < 2 or not isinstance(decoded[1], dict):
        return None
    return str(decoded[0]), decoded[1]


@dataclass
class SocketCutter:
    """Relays the page's WebSocket to the server; can cut it right at the next ``send_message``.

    ``forward_first`` decides whether that frame still reaches the server (stored, ack lost) or
    is lost with the connection (never stored).
    """

    forward_first: bool = False
    armed: bool = False
    sent_client_ids: list[str] = field(default_factory=list)
    cut_client_ids: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, *, forward_first: bool) -> None:
        with self._lock:
            self.armed = True
            self.forward_first = forward_first

    def __call__(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        cut = threading.Event()  # the page side is gone; drop everything from now on

        def from_page(frame: str | bytes) -> None:
            if cut.is_set():
                return
            event = socketio_event(frame)
            if event is None or event[0] != "send_message" or not self._take(event[1]):
                server.send(frame)
                return
            cut.set()
            if self.forward_first:
                # The server stores it; its ack (43...) is dropped, then the server side closes.
                server.send(frame)
            else:
                server.close()
            ws.close()

        def from_server(frame: str | bytes) -> None:
            if not cut.is_set():
                ws.send(frame)
            elif isinstance(frame, str) and frame.startswith("43"):
                server.close()

        ws.on_message(from_page)
        server.on_message(from_server)
        # Closing is forwarded by hand, so the server side may outlive a cut page side.
        ws.on_close(lambda _code, _reason: None if cut.is_set() else server.close())
        server.on_close(lambda _code, _reason: ws.close())

    def _take(self, payload: dict[str, Any]) -> bool:
        """Records a send_message; True when it is the one to cut."""
        client_id = str(payload.get("client_id"))
        with self._lock:
            self.sent_client_ids.append(client_id)
            cutting, self.armed = self.armed, False
            if cutting:
                self.cut_client_ids.append(client_id)
        return cutting
