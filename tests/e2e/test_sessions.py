"""A session's whole life on the real server, with the in-process provider and a fake clock:
expiry, in-band refresh, room access re-evaluated, back-channel logout, limits."""

import asyncio
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clients import ChatClient, refusal
from tests.support.clock import FakeClock
from tests.support.databases import migrated_database
from tests.support.fake_idp import FakeIdP
from tests.support.live import LiveServer, make_settings

SESSIONS = {
    "sweep_interval_seconds": 0.05,
    "expiry_warning_seconds": 60,
    "expiry_grace_seconds": 30,
    "max_connections_per_user": 3,
    "message_burst": 5,
    "messages_per_second": 0.001,
    "user_message_burst": 8,
    "user_messages_per_second": 0.001,
}


class Stack:
    def __init__(
        self, server: LiveServer, idp: FakeIdP, clock: FakeClock, database_url: str
    ) -> None:
        self.server, self.idp, self.clock, self.database_url = server, idp, clock, database_url

    @property
    def url(self) -> str:
        return self.server.url

    async def client(self, **claims: Any) -> "EventClient":
        client = EventClient()
        await client.connect(self.url, self.idp.tokens(**claims))
        return client

    async def post_logout(self, token: str, provider: str = "fake") -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.post(
                f"{self.url}/oidc/backchannel-logout/{provider}", data={"logout_token": token}
            )


class EventClient(ChatClient):
    """Also records session events and disconnects."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, Any]] = []
        self.disconnected = asyncio.Event()
        for name in ("session_expiring", "session_ended", "room_access_revoked"):
            self.sio.on(name, self._recorder(name))
        self.sio.on("disconnect", self._on_disconnect)

    def _recorder(self, name: str) -> Any:
        async def record(data: Any) -> None:
            self.events.append((name, data))

        return record

    async def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()

    async def wait_event(self, name: str, within: float = 5) -> Any:
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            for event, data in self.events:
                if event == name:
                    return data
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {name} event; got {self.events}")


def start_stack(tmp_path: Path, clock: FakeClock, **sessions: Any) -> Generator[Stack, None, None]:
    idp = FakeIdP(now=clock.now)
    with migrated_database("sqlite", tmp_path) as url:
        settings = make_settings(
            database_url=url,
            providers=[
                {
                    "id": "fake",
                    "issuer": idp.issuer,
                    "client_id": idp.client_id,
                    "audience": idp.audience,
                    "required_scopes": ["chat:write"],
                }
            ],
            sessions={**SESSIONS, **sessions},
        )
        with LiveServer(settings, clock=clock, http_transport=idp.transport()) as live:
            yield Stack(live, idp, clock, url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stack(tmp_path: Path, clock: FakeClock) -> Iterator[Stack]:
    yield from start_stack(tmp_path, clock)


@pytest.fixture
async def alice(stack: Stack) -> AsyncIterator[EventClient]:
    client = await stack.client(
        sub="alice", groups=["staff", "engineering"], exp=int(stack.clock.now()) + 120
    )
    yield client
    await client.close()


async def test_expiry_warns_then_refuses_sends_then_ends_the_session(
    stack: Stack, alice: EventClient
) -> None:
    expires_at = int(stack.clock.now()) + 120
    stack.clock.advance(61)
    assert (await alice.wait_event("session_expiring"))["expires_at"] == expires_at
    stack.clock.advance(60)  # past exp, within grace
    ack = await alice.call("send_message", {"room": "general", "text": "too late"})
    assert ack["error"]["code"] == "token_expired"
    assert (await alice.call("fetch_history", {"room": "general"}))["messages"] == []
    stack.clock.advance(30)
    assert await alice.wait_event("session_ended") == {"reason": "token_expired"}
    await asyncio.wait_for(alice.disconnected.wait(), 5)


async def test_refresh_extends_the_session(stack: Stack, alice: EventClient) -> None:
    stack.clock.advance(100)
    new_exp = int(stack.clock.now()) + 600
    ack = await alice.call(
        "refresh_token",
        {
            "access_token": stack.idp.access_token(sub="alice", exp=new_exp),
            "id_token": stack.idp.id_token(sub="alice"),
        },
    )
    assert ack == {"ok": True, "expires_at": new_exp}
    stack.clock.advance(120)  # the old token's exp + grace has passed
    await asyncio.sleep(0.3)
    assert ("session_ended", {"reason": "token_expired"}) not in alice.events
    assert (await alice.call("send_message", {"room": "general", "text": "still here"}))["ok"]


async def test_refresh_without_id_token_uses_the_access_token(
    stack: Stack, alice: EventClient
) -> None:
    ack = await alice.call("refresh_token", {"access_token": stack.idp.access_token(sub="alice")})
    assert ack["ok"]


async def test_refresh_with_another_users_token_closes_the_socket(
    stack: Stack, alice: EventClient
) -> None:
    ack_task = asyncio.create_task(
        alice.sio.call("refresh_token", stack.idp.tokens(sub="mallory"), timeout=2)
    )
    assert await alice.wait_event("session_ended") == {"reason": "identity_changed"}
    await asyncio.wait_for(alice.disconnected.wait(), 5)
    ack_task.cancel()


async def test_refresh_with_bad_tokens_is_refused_and_keeps_the_session(
    stack: Stack, alice: EventClient
) -> None:
    expired = stack.idp.access_token(sub="alice", exp=int(stack.clock.now()) - 3600)
    assert (await alice.call("refresh_token", {"access_token": expired}))["error"][
        "code"
    ] == "token_expired"
    assert (await alice.call("refresh_token", {"access_token": "garbage"}))["error"][
        "code"
    ] == "invalid_token"
    assert (await alice.call("refresh_token", {"access_token": 5}))["error"][
        "code"
    ] == "invalid_request"
    assert (await alice.call("send_message", {"room": "general", "text": "fine"}))["ok"]


async def test_group_removed_at_refresh_revokes_room_access_live(
    stack: Stack, alice: EventClient
) -> None:
    bob = await stack.client(sub="bob", groups=["engineering"])
    try:
        assert (await alice.call("join", {"room": "engineering"}))["ok"]
        assert (await alice.call("join", {"room": "general"}))["ok"]
        ack = await alice.call(
            "refresh_token",
            {
                "access_token": stack.idp.access_token(sub="alice", groups=["staff"]),
                "id_token": stack.idp.id_token(sub="alice", groups=["staff"]),
            },
        )
        assert ack["ok"]
        assert await alice.wait_event("room_access_revoked") == {"room": "engineering"}
        assert (await bob.call("send_message", {"room": "engineering", "text": "secret"}))["ok"]
        await asyncio.sleep(0.2)
        assert [m["text"] for m in alice.posted] == []
        assert (await alice.call("join", {"room": "engineering"}))["error"]["code"] == "forbidden"
        assert [r["slug"] for r in (await alice.call("list_rooms"))["rooms"]] == ["general"]
    finally:
        await bob.close()


async def test_per_connection_and_per_user_rate_limits(stack: Stack, alice: EventClient) -> None:
    codes = [
        (await alice.call("send_message", {"room": "general", "text": f"m{i}"}))
        .get("error", {})
        .get("code")
        for i in range(7)
    ]
    assert codes == [None] * 5 + ["rate_limited"] * 2
    second = await stack.client(sub="alice", groups=["staff"])
    try:
        codes = [
            (await second.call("send_message", {"room": "general", "text": f"n{i}"}))
            .get("error", {})
            .get("code")
            for i in range(5)
        ]
    finally:
        await second.close()
    assert codes == [None] * 3 + ["rate_limited"] * 2  # the user's bucket (8) is the limit now
    history = await alice.call("fetch_history", {"room": "general", "limit": 100})
    assert len(history["messages"]) == 8


async def test_connections_per_user_are_capped(stack: Stack, alice: EventClient) -> None:
    others = [await stack.client(sub="alice") for _ in range(2)]
    try:
        data = await refusal(stack.url, stack.idp.tokens(sub="alice"))
        assert data == {"code": "too_many_connections", "retryable": True}
        bob = await stack.client(sub="bob")  # other users are not affected
        await bob.close()
    finally:
        for other in others:
            await other.close()
    await asyncio.sleep(0.2)
    again = await stack.client(sub="alice")  # a closed socket frees its place
    await again.close()


def refusal_reason(response: httpx.Response) -> str:
    """The ``error_description`` code of a back-channel refusal (400, ``invalid_request``)."""
    assert response.status_code == 400, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == "invalid_request"
    return str(body["error_description"])


async def test_backchannel_logout_by_sid_ends_that_session_only(stack: Stack) -> None:
    first = await stack.client(sub="alice", sid="s-1")
    second = await stack.client(sub="alice", sid="s-2")
    try:
        response = await stack.post_logout(stack.idp.logout_token(sub="alice", sid="s-1"))
        assert response.status_code == 200
        assert await first.wait_event("session_ended") == {"reason": "logged_out"}
        await asyncio.sleep(0.2)
        assert second.events == []
        assert (await second.call("list_rooms"))["ok"]
    finally:
        await second.close()


async def test_backchannel_logout_by_sub_ends_every_session_and_old_tokens(
    stack: Stack, clock: FakeClock
) -> None:
    old = stack.idp.tokens(sub="alice")
    clients = [await stack.client(sub="alice", sid=f"s-{i}") for i in range(2)]
    clock.advance(1)
    token = stack.idp.logout_token(sub="alice")
    assert (await stack.post_logout(token)).status_code == 200
    for client in clients:
        assert await client.wait_event("session_ended") == {"reason": "logged_out"}
    assert (await refusal(stack.url, old))["code"] == "session_revoked"
    assert refusal_reason(await stack.post_logout(token)) == "token_replayed"
    clock.advance(1)
    fresh = await stack.client(sub="alice")  # a new sign-in after the logout works
    await fresh.close()


async def test_a_logout_survives_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    stacks = start_stack(tmp_path, clock)
    stack = next(stacks)
    old = stack.idp.tokens(sub="alice", sid="s-1")
    clock.advance(1)
    assert (
        await stack.post_logout(stack.idp.logout_token(sub="alice", sid="s-1"))
    ).status_code == 200
    idp = stack.idp
    stacks.close()  # the server stops; the database file stays
    settings = stack.server.settings
    with LiveServer(settings, clock=clock, http_transport=idp.transport()) as restarted:
        assert (await refusal(restarted.url, old))["code"] == "session_revoked"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"nonce": "n"}, "invalid_token"),
        ({"events": None}, "invalid_token"),
        ({"events": {"other": {}}}, "invalid_token"),
        (
            {"events": {"http://schemas.openid.net/event/backchannel-logout": "yes"}},
            "invalid_token",
        ),
        ({"aud": "someone-else"}, "invalid_token"),
        ({"iss": "https://evil.test"}, "invalid_token"),
        ({"sub": None}, "invalid_token"),
        ({"jti": None}, "invalid_token"),
        ({"iat": None}, "invalid_token"),
        ({"iat": -(10**11)}, "invalid_token"),  # before year 1: no datetime holds it
        ({"exp": 1}, "token_expired"),
        ({"typ": "JWT"}, "invalid_token"),
        ({"typ": "at+jwt"}, "invalid_token"),
        ({"key": "stranger"}, "invalid_token"),
    ],
)
async def test_bad_logout_tokens_are_refused_with_400(
    stack: Stack, alice: EventClient, change: dict[str, Any], reason: str
) -> None:
    from joserfc.jwk import RSAKey

    claims = dict(change)
    typ = claims.pop("typ", "logout+jwt")
    key = (
        RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}) if claims.pop("key", None) else None
    )
    token = stack.idp.logout_token(typ=typ, key=key, **claims)
    assert refusal_reason(await stack.post_logout(token)) == reason
    await asyncio.sleep(0.1)
    assert alice.events == []


def _form(body: str, content_type: str = "application/x-www-form-urlencoded") -> dict[str, Any]:
    return {"content": body.encode(), "headers": {"content-type": content_type}}


# Each request carries a valid logout token where it can, so only the check it targets refuses it.
MALFORMED_LOGOUTS: dict[str, tuple[Callable[[FakeIdP], dict[str, Any]], str]] = {
    "no logout_token": (lambda idp: {"data": {}}, "invalid_request"),
    "garbage token": (lambda idp: {"data": {"logout_token": "garbage"}}, "invalid_token"),
    "JSON body": (lambda idp: {"json": {"logout_token": idp.logout_token()}}, "invalid_request"),
    "form labelled text/plain": (
        lambda idp: _form(f"logout_token={idp.logout_token()}", "text/plain"),
        "invalid_request",
    ),
    "two tokens": (
        lambda idp: _form(f"logout_token={idp.logout_token()}&logout_token={idp.logout_token()}"),
        "invalid_request",
    ),
    "body over 32 KiB": (
        lambda idp: _form(f"logout_token={idp.logout_token()}&pad={'x' * 40_000}"),
        "invalid_request",
    ),
    "1 MB token": (lambda idp: _form("logout_token=" + "x" * 1_000_000), "invalid_request"),
}


@pytest.mark.parametrize("case", MALFORMED_LOGOUTS)
async def test_malformed_logout_requests_are_refused(stack: Stack, case: str) -> None:
    make_request, reason = MALFORMED_LOGOUTS[case]
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{stack.url}/oidc/backchannel-logout/fake", **make_request(stack.idp)
        )
    assert refusal_reason(response) == reason


async def test_logout_for_an_unknown_provider_is_refused(stack: Stack) -> None:
    response = await stack.post_logout(stack.idp.logout_token(), provider="nope")
    assert refusal_reason(response) == "unknown_issuer"


async def test_any_event_is_rate_limited_per_connection(tmp_path: Path, clock: FakeClock) -> None:
    for stack in start_stack(tmp_path, clock, events_per_second=0.001, event_burst=4):
        client = await stack.client(sub="alice")
        try:
            codes = [
                (await client.call("fetch_history", {"room": "general"}))
                .get("error", {})
                .get("code")
                for _ in range(6)
            ]
        finally:
            await client.close()
        assert codes == [None] * 4 + ["rate_limited"] * 2
