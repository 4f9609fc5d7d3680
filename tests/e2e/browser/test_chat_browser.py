"""The SPA in real headless Chromium against the real chat server and the real dev provider."""

import base64
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, WebSocket, expect

from tests.e2e.browser.chat_page import ChatPage, SocketCutter
from tests.e2e.browser.stack import ChatStack

pytestmark = pytest.mark.browser

NewUser = Callable[..., ChatPage]
ROOM = "general"
SOCKET_URL = re.compile(r"/socket\.io/")
XSS_IMG = "<img src=x onerror=window.__pwned=1>"
XSS_SCRIPT = "<script>window.__pwned=1</script>"


def unique(text: str) -> str:
    return f"{text} #{uuid.uuid4().hex[:8]}"


def signed_in(new_user: NewUser, username: str, context: BrowserContext | None = None) -> ChatPage:
    user = new_user(context)
    user.sign_in(username, f"{username}-password")
    user.join(ROOM)
    return user


def save_side_by_side(path: Path, first: Page, second: Page) -> None:
    """One screenshot of two pages, composed in a throwaway page (no image library needed)."""
    shots = [base64.b64encode(page.screenshot()).decode() for page in (first, second)]
    browser = first.context.browser
    assert browser is not None
    canvas = browser.new_page(viewport={"width": 2010, "height": 700})
    try:
        canvas.set_content('<body style="margin:0;display:flex;gap:10px;background:#888"></body>')
        for shot in shots:
            canvas.evaluate(
                "src => { const img = new Image(); img.src = src; document.body.append(img); }",
                f"data:image/png;base64,{shot}",
            )
        canvas.wait_for_function("() => [...document.images].every(i => i.complete)")
        canvas.screenshot(path=str(path))
    finally:
        canvas.close()


def test_two_users_sign_in_at_the_provider_and_chat(
    new_user: NewUser, base_url: str, artifacts: Path
) -> None:
    alice = new_user()
    alice.open()
    alice.start_sign_in()
    alice.submit_login("alice", "not-alices-password")
    # Refused by the provider: still its login form, with an error, and no way into the app.
    expect(alice.page.get_by_role("alert")).to_be_visible()
    expect(alice.page.locator("input[name=password]")).to_be_visible()
    assert urlsplit(alice.page.url).path.startswith("/interaction/")
    alice.submit_login("alice", "alice-password")
    alice.finish_sign_in()
    assert alice.page.url == f"{base_url}/", "code and state must leave the address bar"
    alice.join(ROOM)
    bob = signed_in(new_user, "bob")

    expect(alice.page.get_by_test_id("user-name")).to_have_text("Alice Anderson")
    expect(bob.page.get_by_test_id("user-name")).to_have_text("Bob Brown")
    # Only rooms the user may join are listed: Engineering needs the "engineering" group.
    expect(alice.page.get_by_test_id("room-engineering")).to_have_count(1)
    expect(bob.page.get_by_test_id("room-engineering")).to_have_count(0)

    hello = unique("Hello Bob")
    alice.send(hello)
    alice.expect_message(hello, "Alice Anderson")  # once: ack and broadcast are deduplicated
    bob.expect_message(hello, "Alice Anderson")
    reply = unique("Hi Alice")
    bob.send(reply)
    bob.expect_message(reply, "Bob Brown")
    alice.expect_message(reply, "Bob Brown")
    save_side_by_side(artifacts / "chat-two-users.png", alice.page, bob.page)


def test_markup_in_messages_is_shown_as_text_and_never_runs(new_user: NewUser) -> None:
    alice = signed_in(new_user, "alice")
    bob = signed_in(new_user, "bob")
    alice.send(XSS_IMG)
    bob.send(f"look: {XSS_SCRIPT}")
    for user in (alice, bob):
        user.expect_message(XSS_IMG, "Alice Anderson")
        user.expect_message(f"look: {XSS_SCRIPT}", "Bob Brown")
        messages = user.page.get_by_test_id("message-list")
        expect(messages.locator("img, script")).to_have_count(0)
    for user in (alice, bob):
        user.page.wait_for_timeout(300)  # an onerror handler would have fired by now
        assert user.pwned() is None


def test_reload_keeps_the_session_and_shows_history(new_user: NewUser, idp_issuer: str) -> None:
    alice = signed_in(new_user, "alice")
    text = unique("before the reload")
    alice.send(text)
    alice.expect_message(text, "Alice Anderson")

    authorize_requests: list[str] = []
    alice.page.on(
        "request",
        lambda request: (
            authorize_requests.append(request.url)
            if request.url.startswith(f"{idp_issuer}/auth")
            else None
        ),
    )
    alice.page.reload()
    alice.expect_connected()
    expect(alice.page.get_by_test_id("user-name")).to_have_text("Alice Anderson")
    expect(alice.page.get_by_test_id("room-title")).to_have_attribute("data-room", ROOM)
    alice.expect_message(text, "Alice Anderson")
    assert authorize_requests == [], "the session is restored without a new sign-in"

    stored = alice.page.evaluate("() => [Object.keys(sessionStorage), Object.keys(localStorage)]")
    session_keys, local_keys = stored
    assert any(key.startswith("oidc.user:") for key in session_keys)
    assert not any(key.startswith("oidc.") for key in local_keys), "tokens never in localStorage"


def test_sign_out_closes_the_socket_then_ends_the_provider_session(
    new_user: NewUser, idp_issuer: str
) -> None:
    alice = new_user()
    events: list[str] = []
    sockets: list[WebSocket] = []

    def on_socket(ws: WebSocket) -> None:
        sockets.append(ws)
        # "41" is the Socket.IO DISCONNECT packet the client sends when it closes the socket.
        ws.on("framesent", lambda frame: events.append("socket_closed") if frame == "41" else None)

    alice.page.on("websocket", on_socket)
    alice.page.on(
        "request",
        lambda request: (
            events.append(request.url)
            if request.url.startswith(f"{idp_issuer}/session/end")
            else None
        ),
    )
    alice.sign_in("alice", "alice-password")
    alice.join(ROOM)
    bob = signed_in(new_user, "bob")

    alice.sign_out()
    assert "socket_closed" in events, "the client closed its socket"
    end_session = next(e for e in events if e.startswith(idp_issuer))
    assert events.index("socket_closed") < events.index(end_session), "socket closed first"
    assert parse_qs(urlsplit(end_session).query).get("id_token_hint"), "id_token_hint is sent"
    keys = alice.page.evaluate("() => Object.keys(sessionStorage)")
    assert not any(key.startswith("oidc.user:") for key in keys), "local session cleared"

    opened = len(sockets)
    later = unique("after alice left")
    bob.send(later)
    bob.expect_message(later, "Bob Brown")
    alice.page.wait_for_timeout(500)
    assert len(sockets) == opened, "no new socket after sign-out"
    expect(alice.page.get_by_test_id("message-list")).to_have_count(0)

    # The provider session is over too: signing in again asks for the password.
    alice.start_sign_in()


def test_retry_after_a_dropped_send_reuses_the_client_id(
    new_user: NewUser, new_context: Callable[[], BrowserContext]
) -> None:
    cutter = SocketCutter()
    context = new_context()
    context.route_web_socket(SOCKET_URL, cutter)
    alice = signed_in(new_user, "alice", context)
    bob = signed_in(new_user, "bob")

    text = unique("lost on the way")
    cutter.arm(forward_first=False)  # the connection drops with the frame: nothing is stored
    alice.send(text)
    item = alice.messages(text)
    expect(item).to_have_attribute("data-state", "failed")
    alice.expect_connected()
    item.get_by_test_id("message-retry").click()

    alice.expect_message(text, "Alice Anderson")
    bob.expect_message(text, "Alice Anderson")
    client_id = item.get_attribute("data-client-id")
    assert client_id is not None
    assert cutter.cut_client_ids == [client_id]
    assert cutter.sent_client_ids.count(client_id) == 2, "the retry reused the client_id"


def test_a_send_whose_ack_is_lost_is_confirmed_once_after_reconnect(
    new_user: NewUser, new_context: Callable[[], BrowserContext]
) -> None:
    cutter = SocketCutter()
    context = new_context()
    context.route_web_socket(SOCKET_URL, cutter)
    alice = signed_in(new_user, "alice", context)
    bob = signed_in(new_user, "bob")

    text = unique("stored but unacknowledged")
    cutter.arm(forward_first=True)  # the server stores it; the ack never reaches the page
    alice.send(text)
    bob.expect_message(text, "Alice Anderson")
    alice.expect_connected()
    # Re-joined after the reconnect, the missed history (after the last seen id) confirms it.
    alice.expect_message(text, "Alice Anderson")
    expect(alice.messages(text).get_by_test_id("message-retry")).to_have_count(0)
    bob.expect_message(text, "Alice Anderson")
    assert len(cutter.cut_client_ids) == 1


def test_token_renewal_with_the_refresh_token_keeps_the_chat_working(
    short_lived_stack: ChatStack, new_user: NewUser
) -> None:
    issuer = short_lived_stack.idp.issuer
    alice = new_user(None, short_lived_stack)
    refreshes: list[str] = []
    alice.page.on(
        "request",
        lambda request: (
            refreshes.append(request.url)
            if request.url == f"{issuer}/token"
            and "grant_type=refresh_token" in (request.post_data or "")
            else None
        ),
    )
    alice.sign_in("alice", "alice-password")
    alice.join(ROOM)
    read_token = (
        f"() => JSON.parse(sessionStorage.getItem('oidc.user:{issuer}:chat-spa')).access_token"
    )
    first_token = alice.page.evaluate(read_token)

    alice.page.wait_for_function(f"t => ({read_token})() !== t", arg=first_token, timeout=30_000)
    assert refreshes, "renewed with the refresh token (no redirect, no iframe)"
    alice.expect_connected()
    text = unique("after renewal")
    alice.send(text)
    alice.expect_message(text, "Alice Anderson")


def test_signing_out_in_one_tab_ends_the_session_in_the_other(
    new_user: NewUser, new_context: Callable[[], BrowserContext]
) -> None:
    # Two tabs of one browser share the provider session (one sid). Signing out in one ends that
    # session at the provider, whose back-channel logout makes the server end the other tab's socket.
    context = new_context()
    first = signed_in(new_user, "alice", context)
    second = new_user(context)
    second.open()
    second.start_sign_in_with_provider_session()
    second.finish_sign_in()
    second.join(ROOM)
    first.sign_out()
    expect(second.page.get_by_test_id("signed-out-view")).to_be_visible(timeout=5_000)
    expect(second.page.get_by_test_id("notice")).to_have_attribute("data-code", "logged_out")
    assert (
        second.page.evaluate("() => Object.keys(sessionStorage).filter(k => k.startsWith('oidc.'))")
        == []
    )


def test_a_provider_in_id_token_only_mode_signs_in_and_chats(
    id_token_only_stack: ChatStack, new_user: NewUser
) -> None:
    # Google and Okta's org server give no access token for our API: the ID token goes alone.
    alice = new_user(None, id_token_only_stack)
    alice.sign_in("alice", "alice-password")
    alice.join(ROOM)
    text = unique("signed in with an ID token")
    alice.send(text)
    alice.expect_message(text, "Alice Anderson")
