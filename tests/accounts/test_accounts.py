"""AccountService and the user directory on SQLite and PostgreSQL: blocks and ended sessions on
this process and on another one sharing the database, sign-ins recorded, search, audit."""

import json
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.accounts import AccountService
from server.audit import Actor, AuditLog
from server.config import ProviderConfig, SessionSettings
from server.errors import AppError
from server.identity import Identity, TokenVerifier
from server.sessions import LiveSession, Presence, SessionService
from server.storage import (
    AuditRepository,
    LogoutRepository,
    PresenceRepository,
    SeenUser,
    StoredUser,
    UserRepository,
    create_engine,
)
from tests.support.clock import FakeClock
from tests.support.fake_idp import FakeIdP
from tests.support.transport import RecordingTransport

ADMIN = Actor(provider_id="admins", issuer="https://admins.test", subject="dana", name="Dana")
ISSUER = "https://idp.test"


@dataclass(frozen=True, slots=True)
class Process:
    """One server process: its sessions, its account use cases, what its sockets were told."""

    sessions: SessionService
    accounts: AccountService
    transport: RecordingTransport
    audit: AuditLog


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def idp(clock: FakeClock) -> FakeIdP:
    return FakeIdP(ISSUER, now=clock.now)


@pytest.fixture
async def http(idp: FakeIdP) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=idp.transport()) as client:
        yield client


@pytest.fixture
async def other_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A second engine on the same database: what another server process would hold."""
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def a(
    engine: AsyncEngine, idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> Process:
    return await started(engine, idp, http, clock)


@pytest.fixture
async def b(
    other_engine: AsyncEngine, idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> Process:
    return await started(other_engine, idp, http, clock)


async def started(
    engine: AsyncEngine, idp: FakeIdP, http: httpx.AsyncClient, clock: FakeClock
) -> Process:
    provider = ProviderConfig(
        id="fake",
        issuer=idp.issuer,
        client_id=idp.client_id,
        audience=idp.audience,
        required_scopes=("chat:write",),
    )
    verifier = TokenVerifier.build([provider], http, clock)
    audit = AuditLog(AuditRepository(engine), clock)
    users = UserRepository(engine)
    sessions = SessionService(
        SessionSettings(), LogoutRepository(engine), users, clock, verifier, audit
    )
    transport = RecordingTransport()
    sessions.attach(transport)
    await sessions.start()
    presence = Presence(PresenceRepository(engine), sessions.registry, "node", clock, 1.0)
    accounts = AccountService(users, sessions, presence, audit, clock)
    return Process(sessions, accounts, transport, audit)


def tokens(idp: FakeIdP, sub: str) -> tuple[str, str]:
    minted = idp.tokens(sub=sub, name=sub.title())
    return minted["access_token"], minted["id_token"]


async def connect(process: Process, sid: str, idp: FakeIdP, sub: str) -> LiveSession:
    return await process.sessions.connect(sid, *tokens(idp, sub))


async def user(process: Process, sub: str) -> StoredUser:
    """The stored user with this subject (this process's pending sign-ins are written first)."""
    [found] = [u for u in await process.accounts.search(sub, 0, 100) if u.subject == sub]
    return found


async def code_of(call: Awaitable[object]) -> str:
    """The code of the AppError an awaitable raises; fails the test if it succeeds."""
    with pytest.raises(AppError) as info:
        await call
    return info.value.code


def admit_code(process: Process, sid: str, identity: Identity) -> str:
    with pytest.raises(AppError) as info:
        process.sessions.admit(sid, identity)
    return info.value.code


# -- blocks --------------------------------------------------------------------------------------


async def test_a_block_ends_the_users_sessions_and_refuses_them(a: Process, idp: FakeIdP) -> None:
    first = await connect(a, "alice-1", idp, "alice")
    await connect(a, "alice-2", idp, "alice")
    await connect(a, "bob-1", idp, "bob")
    alice = await user(a, "alice")

    blocked, ended = await a.accounts.block(ADMIN, alice.id, True)
    assert blocked.blocked_at is not None
    assert ended == 2
    assert sorted(a.transport.ended) == [("alice-1", "blocked"), ("alice-2", "blocked")]
    assert a.sessions.registry.get("bob-1") is not None
    assert await code_of(a.sessions.authenticate(*tokens(idp, "alice"))) == "account_blocked"
    assert admit_code(a, "alice-3", first.identity) == "account_blocked"
    assert (await a.sessions.authenticate(*tokens(idp, "bob"))).subject == "bob"


async def test_an_unblock_lets_the_user_in_again(a: Process, idp: FakeIdP) -> None:
    await connect(a, "alice-1", idp, "alice")
    alice = await user(a, "alice")
    await a.accounts.block(ADMIN, alice.id, True)

    unblocked, ended = await a.accounts.block(ADMIN, alice.id, False)
    assert (unblocked.blocked_at, ended) == (None, 0)
    assert (await connect(a, "alice-2", idp, "alice")).identity.subject == "alice"
    assert a.transport.ended == [("alice-1", "blocked")]


async def test_a_block_reaches_another_process_at_its_next_enforce_blocks(
    a: Process, b: Process, idp: FakeIdP
) -> None:
    await connect(b, "alice-b", idp, "alice")
    await connect(b, "bob-b", idp, "bob")
    await b.sessions.users.flush()
    alice = await user(a, "alice")

    _, ended_on_a = await a.accounts.block(ADMIN, alice.id, True)
    assert ended_on_a == 0  # alice is connected to b only
    assert b.transport.ended == []
    await b.sessions.enforce_blocks()
    assert b.transport.ended == [("alice-b", "blocked")]
    assert b.sessions.registry.get("bob-b") is not None
    assert await code_of(b.sessions.authenticate(*tokens(idp, "alice"))) == "account_blocked"

    await a.accounts.block(ADMIN, alice.id, False)
    await b.sessions.enforce_blocks()
    assert (await connect(b, "alice-b2", idp, "alice")).identity.subject == "alice"
    assert b.transport.ended == [("alice-b", "blocked")]


async def test_end_sessions_is_a_logout_that_every_process_enforces(
    a: Process, b: Process, idp: FakeIdP, clock: FakeClock
) -> None:
    await connect(a, "alice-a", idp, "alice")
    await connect(b, "alice-b", idp, "alice")
    await connect(b, "bob-b", idp, "bob")
    issued_before = tokens(idp, "alice")
    alice = await user(a, "alice")

    assert await a.accounts.end_sessions(ADMIN, alice.id) == 1
    assert a.transport.ended == [("alice-a", "logged_out")]
    assert b.transport.ended == []
    await b.sessions.enforce_logouts()
    assert b.transport.ended == [("alice-b", "logged_out")]
    assert b.sessions.registry.get("bob-b") is not None
    for process in (a, b):
        refused = process.sessions.authenticate(*issued_before)
        assert await code_of(refused) == "session_revoked"

    clock.advance(2)  # a token issued after the logout comes from a new sign-in
    for process in (a, b):
        assert (await process.sessions.authenticate(*tokens(idp, "alice"))).subject == "alice"
    assert await code_of(a.accounts.block(ADMIN, 999_999, True)) == "not_found"
    assert await code_of(a.accounts.end_sessions(ADMIN, 999_999)) == "not_found"


# -- sign-ins and search -------------------------------------------------------------------------


def seen(sub: str, name: str, groups: tuple[str, ...], at: datetime) -> SeenUser:
    return SeenUser(ISSUER, sub, "fake", name, groups, at)


async def test_record_seen_creates_and_then_updates_a_user(engine: AsyncEngine) -> None:
    users = UserRepository(engine)
    first = datetime(2030, 1, 1, tzinfo=UTC)
    await users.record_seen([seen("alice", "Alice", ("a", "b"), first)])
    [created] = await users.search(None, 0, 10)
    expected = ("alice", "fake", "Alice", ("a", "b"), first, first, None)
    assert (
        created.subject,
        created.provider_id,
        created.name,
        created.groups,
        created.created_at,
        created.last_seen_at,
        created.blocked_at,
    ) == expected

    later = first + timedelta(hours=1)
    await users.record_seen(
        [seen("alice", "Alice A.", ("c",), later), seen("bob", "Bob", (), later)]
    )
    alice, bob = await users.search(None, 0, 10)
    assert (alice.id, alice.name, alice.groups) == (created.id, "Alice A.", ("c",))
    assert (alice.created_at, alice.last_seen_at) == (first, later)
    assert (bob.subject, bob.groups, bob.last_seen_at) == ("bob", (), later)


async def test_sign_ins_are_written_in_batches_with_the_latest_details(
    a: Process, engine: AsyncEngine, idp: FakeIdP, clock: FakeClock
) -> None:
    await a.sessions.authenticate(*tokens(idp, "alice"))
    clock.advance(30)
    latest = idp.tokens(sub="alice", name="Alice Again", groups=["ops", "eng"])
    await a.sessions.authenticate(latest["access_token"], latest["id_token"])
    assert await UserRepository(engine).search(None, 0, 10) == []  # not written yet

    await a.sessions.users.flush()
    [alice] = await UserRepository(engine).search(None, 0, 10)
    assert (alice.subject, alice.name, alice.groups) == ("alice", "Alice Again", ("eng", "ops"))
    assert alice.last_seen_at is not None
    assert abs(alice.last_seen_at.timestamp() - clock.now()) < 0.001


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("%", ["percent"]),
        ("0% s", ["percent"]),
        ("_", ["underscore"]),
        ("e_c", ["underscore"]),
        ("\\", ["backslash"]),
        ("K\\S", ["backslash"]),
        ("SNAKE", ["underscore", "snake"]),  # any case
        ("perc", ["percent"]),  # the subject matches too
        ("", ["percent", "digits", "underscore", "snake", "backslash", "plain"]),
    ],
)
async def test_search_matches_literally_with_like_wildcards_escaped(
    engine: AsyncEngine, query: str, found: list[str]
) -> None:
    users = UserRepository(engine)
    at = datetime(2030, 1, 1, tzinfo=UTC)
    names = {
        "percent": "100% sure",
        "digits": "1000 sure",
        "underscore": "snake_case",
        "snake": "snakeXcase",
        "backslash": "back\\slash",
        "plain": "backXslash",
    }
    for sub, name in names.items():  # one by one: ids in this order
        await users.record_seen([seen(sub, name, (), at)])
    assert [u.subject for u in await users.search(query, 0, 100)] == found


async def test_search_pages_by_id(engine: AsyncEngine) -> None:
    users = UserRepository(engine)
    at = datetime(2030, 1, 1, tzinfo=UTC)
    for sub in ("u1", "u2", "u3"):
        await users.record_seen([seen(sub, sub, (), at)])
    first = await users.search(None, 0, 2)
    assert [u.subject for u in first] == ["u1", "u2"]
    assert [u.subject for u in await users.search(None, first[-1].id, 2)] == ["u3"]


# -- audit ---------------------------------------------------------------------------------------


async def test_account_actions_are_audited_and_the_chain_verifies(a: Process, idp: FakeIdP) -> None:
    await connect(a, "alice-1", idp, "alice")
    alice = await user(a, "alice")
    await a.accounts.block(ADMIN, alice.id, True)
    await a.accounts.block(ADMIN, alice.id, False)
    await a.accounts.end_sessions(ADMIN, alice.id)

    rows = await a.audit.page()
    target = f"user:{alice.id}"
    assert [(r.action, r.target) for r in rows] == [
        ("user.block", target),
        ("user.unblock", target),
        ("user.end_sessions", target),
    ]
    assert {(r.actor_provider, r.actor_subject) for r in rows} == {("admins", "dana")}
    block, unblock, end = (json.loads(r.details) for r in rows)
    assert (block["before"], block["after"]) == ({"blocked": False}, {"blocked": True})
    assert (unblock["before"], unblock["after"]) == ({"blocked": True}, {"blocked": False})
    assert (block["subject"], end["subject"], end["ended_here"]) == ("alice", "alice", 0)
    report = await a.audit.verify(await a.audit.head())
    assert (report.ok, report.checked) == (True, 3)
