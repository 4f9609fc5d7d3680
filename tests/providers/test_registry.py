"""ProviderRegistry in-process on SQLite and PostgreSQL: seeding, the admin's changes, their audit
trail, and how each change reaches the verifier and the live sessions of every process."""

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import Actor, AuditLog
from server.config import ProviderConfig, SessionSettings
from server.errors import AppError
from server.identity import TokenVerifier
from server.providers import ProviderRegistry
from server.sessions import LiveSession, SessionService
from server.storage import (
    AuditRepository,
    LogoutRepository,
    RegistryRepository,
    UserRepository,
    create_engine,
)
from tests.support.clock import FakeClock
from tests.support.fake_idp import FakeIdP
from tests.support.transport import RecordingTransport

ADMIN = Actor(provider_id="admins", issuer="https://admins.test", subject="dana", name="Dana")


@dataclass(frozen=True, slots=True)
class Process:
    """One server process's share of the wiring in server/app.py."""

    registry: ProviderRegistry
    sessions: SessionService
    verifier: TokenVerifier
    transport: RecordingTransport
    audit: AuditLog


def document(idp: FakeIdP, provider_id: str = "fake", **overrides: Any) -> dict[str, Any]:
    return {
        "id": provider_id,
        "issuer": idp.issuer,
        "client_id": idp.client_id,
        "audience": idp.audience,
        "required_scopes": ["chat:write"],
        **overrides,
    }


def in_file(idp: FakeIdP, provider_id: str = "fake", **overrides: Any) -> ProviderConfig:
    return ProviderConfig.model_validate(document(idp, provider_id, **overrides))


async def started(
    engine: AsyncEngine,
    http: httpx.AsyncClient,
    clock: FakeClock,
    file_providers: Sequence[ProviderConfig] = (),
) -> Process:
    verifier = TokenVerifier.build([], http, clock)
    audit = AuditLog(AuditRepository(engine), clock)
    sessions = SessionService(
        SessionSettings(), LogoutRepository(engine), UserRepository(engine), clock, verifier, audit
    )
    transport = RecordingTransport()
    sessions.attach(transport)
    await sessions.start()
    registry = ProviderRegistry(RegistryRepository(engine), verifier, sessions, audit)
    await registry.start(file_providers)
    return Process(registry, sessions, verifier, transport, audit)


async def connect(process: Process, sid: str, idp: FakeIdP, **claims: Any) -> LiveSession:
    tokens = idp.tokens(**claims)
    return await process.sessions.connect(sid, tokens["access_token"], tokens["id_token"])


async def refusal(process: Process, idp: FakeIdP, **claims: Any) -> str:
    """The code a connect with this provider's tokens is refused with; fails if it is accepted."""
    with pytest.raises(AppError) as info:
        await connect(process, "refused", idp, **claims)
    return info.value.code


async def code_of(call: Awaitable[object]) -> str:
    """The code of the AppError an awaitable raises; fails the test if it succeeds."""
    with pytest.raises(AppError) as info:
        await call
    return info.value.code


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def idp(clock: FakeClock) -> FakeIdP:
    return FakeIdP(now=clock.now)


@pytest.fixture
def other_idp(clock: FakeClock) -> FakeIdP:
    return FakeIdP("https://other.test", now=clock.now)


@pytest.fixture
async def http(idp: FakeIdP, other_idp: FakeIdP) -> AsyncIterator[httpx.AsyncClient]:
    by_host = {httpx.URL(p.issuer).host: p for p in (idp, other_idp)}
    transport = httpx.MockTransport(lambda request: by_host[request.url.host].handle(request))
    async with httpx.AsyncClient(transport=transport) as client:
        yield client


@pytest.fixture
async def other_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A second engine on the same database: what another server process would hold."""
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


# -- seeding -------------------------------------------------------------------------------------


async def test_seeding_inserts_file_providers_once_and_reports_later_file_changes(
    engine: AsyncEngine,
    other_engine: AsyncEngine,
    http: httpx.AsyncClient,
    clock: FakeClock,
    idp: FakeIdP,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = await started(engine, http, clock, [in_file(idp)])
    [seeded] = first.registry.list()
    assert (seeded.id, seeded.source, seeded.version) == ("fake", "file", 1)
    assert first.registry.file_differences() == {}

    changed = [in_file(idp, name="Renamed in the file", leeway_seconds=10)]
    with caplog.at_level(logging.WARNING, logger="server.providers.registry"):
        restarted = await started(other_engine, http, clock, changed)
    [kept] = restarted.registry.list()
    assert (kept.version, kept.config["name"], kept.config["leeway_seconds"]) == (1, "", 60)
    assert restarted.registry.file_differences() == {"fake": ["leeway_seconds", "name"]}
    applied = restarted.verifier.for_provider("fake")
    assert applied is not None
    assert applied.provider.leeway_seconds == 60
    assert (await RegistryRepository(engine).revisions())["providers"] == 1  # inserted once
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("leeway_seconds, name" in w for w in warnings)


# -- create / update -----------------------------------------------------------------------------


async def test_create_starts_disabled_and_refuses_enabled_true(
    engine: AsyncEngine,
    http: httpx.AsyncClient,
    clock: FakeClock,
    idp: FakeIdP,
    other_idp: FakeIdP,
) -> None:
    p = await started(engine, http, clock)
    assert await code_of(p.registry.create(ADMIN, document(idp, enabled=True))) == "invalid_request"
    assert p.registry.list() == []

    created = await p.registry.create(ADMIN, document(idp))
    assert (created.source, created.version, created.config["enabled"]) == ("api", 1, False)
    assert await refusal(p, idp) == "provider_disabled"
    duplicate = document(other_idp)  # the same id, another issuer
    assert await code_of(p.registry.create(ADMIN, duplicate)) == "conflict"
    bad = document(other_idp, "bad", issuer="http://idp.example")
    assert await code_of(p.registry.create(ADMIN, bad)) == "invalid_request"

    await p.registry.update(ADMIN, "fake", {"enabled": True})
    assert (await connect(p, "s1", idp)).identity.provider_id == "fake"


@pytest.mark.parametrize("enabled", ["true", 1, "yes"])
async def test_a_new_provider_with_anything_but_enabled_false_is_refused(
    engine: AsyncEngine, http: httpx.AsyncClient, clock: FakeClock, idp: FakeIdP, enabled: object
) -> None:
    p = await started(engine, http, clock)
    assert await code_of(p.registry.create(ADMIN, document(idp, enabled=enabled))) == (
        "invalid_request"
    )
    assert p.registry.list() == []  # nothing was stored


async def test_update_is_a_merge_patch_that_bumps_the_version(
    engine: AsyncEngine, http: httpx.AsyncClient, clock: FakeClock, idp: FakeIdP
) -> None:
    p = await started(engine, http, clock)
    rules = {"required_groups": ["staff"]}
    await p.registry.create(
        ADMIN, document(idp, display={"label": "Fake", "order": 3}, admission=rules)
    )

    updated = await p.registry.update(ADMIN, "fake", {"display": {"label": "Renamed"}})
    assert updated.version == 2
    assert updated.config["display"] == {"label": "Renamed", "order": 3, "hidden": False}
    assert updated.config["admission"]["required_groups"] == ["staff"]
    removed = await p.registry.update(ADMIN, "fake", {"display": {"order": None}}, version=2)
    assert (removed.version, removed.config["display"]["order"]) == (3, 0)  # null: the default
    applied = p.verifier.for_provider("fake")
    assert applied is not None
    assert applied.provider.display.label == "Renamed"


async def test_update_refuses_a_stale_version(
    engine: AsyncEngine,
    other_engine: AsyncEngine,
    http: httpx.AsyncClient,
    clock: FakeClock,
    idp: FakeIdP,
) -> None:
    a = await started(engine, http, clock, [in_file(idp)])
    b = await started(other_engine, http, clock, [in_file(idp)])
    seen_by_a = a.registry.get("fake").version
    await b.registry.update(ADMIN, "fake", {"name": "Changed on b"})

    stale = a.registry.update(ADMIN, "fake", {"name": "Changed on a"}, version=seen_by_a)
    assert await code_of(stale) == "conflict"
    current = await RegistryRepository(engine).provider("fake")
    assert current is not None
    assert (current.version, current.config["name"]) == (2, "Changed on b")


async def test_update_refuses_an_id_change_and_an_unknown_provider(
    engine: AsyncEngine, http: httpx.AsyncClient, clock: FakeClock, idp: FakeIdP
) -> None:
    p = await started(engine, http, clock, [in_file(idp)])
    assert await code_of(p.registry.update(ADMIN, "fake", {"id": "renamed"})) == "invalid_request"
    assert await code_of(p.registry.update(ADMIN, "nobody", {"name": "x"})) == "not_found"
    assert [s.id for s in p.registry.list()] == ["fake"]
    same = await p.registry.update(ADMIN, "fake", {"id": "fake", "name": "Same id"})
    assert same.config["name"] == "Same id"


async def test_update_refuses_an_issuer_taken_by_another_provider(
    engine: AsyncEngine,
    http: httpx.AsyncClient,
    clock: FakeClock,
    idp: FakeIdP,
    other_idp: FakeIdP,
) -> None:
    p = await started(engine, http, clock, [in_file(idp), in_file(other_idp, "other")])
    taken = p.registry.update(ADMIN, "other", {"issuer": idp.issuer})
    assert await code_of(taken) == "invalid_request"
    as_access = p.registry.update(ADMIN, "other", {"access_token_issuer": idp.issuer})
    assert await code_of(as_access) == "invalid_request"
    assert p.registry.get("other").config["issuer"] == other_idp.issuer
    own = await p.registry.update(ADMIN, "fake", {"issuer": idp.issuer, "name": "Still mine"})
    assert own.version == 2


# -- what the table does to tokens and sessions --------------------------------------------------


async def test_an_invalid_row_written_with_raw_sql_is_skipped_and_logged(
    engine: AsyncEngine,
    http: httpx.AsyncClient,
    clock: FakeClock,
    idp: FakeIdP,
    caplog: pytest.LogCaptureFixture,
) -> None:
    p = await started(engine, http, clock, [in_file(idp)])
    await connect(p, "s1", idp)
    broken = {**p.registry.get("fake").config, "leeway_seconds": 3600}  # over the 60 s bound
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE providers SET config = :config WHERE id = 'fake'"),
            {"config": json.dumps(broken)},
        )
        await conn.execute(text("UPDATE revisions SET value = value + 1 WHERE name = 'providers'"))

    with caplog.at_level(logging.ERROR, logger="server.providers.registry"):
        await p.registry.sync()
    assert p.transport.ended == [("s1", "provider_disabled")]
    assert await refusal(p, idp) == "unknown_issuer"  # fail closed: the provider is not used
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["provider fake: the stored configuration is invalid; it is not used"]
    assert p.registry.get("fake").config["leeway_seconds"] == 3600  # still listed, to be fixed
    assert await code_of(p.registry.preview("fake", claims={"sub": "x"})) == "invalid_request"

    await p.registry.update(ADMIN, "fake", {"leeway_seconds": 30})
    assert (await connect(p, "s2", idp)).identity.provider_id == "fake"


async def test_a_change_through_one_process_is_applied_by_the_others_sync(
    engine: AsyncEngine,
    other_engine: AsyncEngine,
    http: httpx.AsyncClient,
    clock: FakeClock,
    idp: FakeIdP,
) -> None:
    a = await started(engine, http, clock, [in_file(idp)])
    b = await started(other_engine, http, clock, [in_file(idp)])
    await connect(b, "b1", idp)

    await a.registry.update(ADMIN, "fake", {"enabled": False})
    assert b.transport.ended == []  # b has not looked yet
    await b.registry.sync()
    assert b.transport.ended == [("b1", "provider_disabled")]
    assert await refusal(b, idp) == "provider_disabled"
    assert b.registry.get("fake").version == 2

    await b.registry.update(ADMIN, "fake", {"enabled": True})
    assert await refusal(a, idp) == "provider_disabled"
    await a.registry.sync()
    assert (await connect(a, "a1", idp)).identity.provider_id == "fake"
    await b.registry.sync()  # nothing new: nothing more ends
    assert b.transport.ended == [("b1", "provider_disabled")]


async def test_disabling_ends_exactly_that_providers_live_sessions(
    engine: AsyncEngine,
    http: httpx.AsyncClient,
    clock: FakeClock,
    idp: FakeIdP,
    other_idp: FakeIdP,
) -> None:
    p = await started(engine, http, clock, [in_file(idp), in_file(other_idp, "other")])
    await connect(p, "f1", idp, sub="alice")
    await connect(p, "f2", idp, sub="bob")
    await connect(p, "o1", other_idp, sub="alice")

    await p.registry.update(ADMIN, "fake", {"enabled": False})
    assert sorted(p.transport.ended) == [("f1", "provider_disabled"), ("f2", "provider_disabled")]
    assert p.sessions.registry.get("o1") is not None
    assert p.sessions.registry.get("f1") is None
    assert (await connect(p, "o2", other_idp)).identity.provider_id == "other"


async def test_an_admission_change_ends_only_the_sessions_it_now_refuses(
    engine: AsyncEngine,
    http: httpx.AsyncClient,
    clock: FakeClock,
    idp: FakeIdP,
    other_idp: FakeIdP,
) -> None:
    p = await started(engine, http, clock, [in_file(idp), in_file(other_idp, "other")])
    await connect(p, "alice", idp, sub="alice", groups=["staff"])
    await connect(p, "bob", idp, sub="bob", groups=["eng"])
    await connect(p, "olga", other_idp, sub="olga", groups=["eng"])

    await p.registry.update(ADMIN, "fake", {"display": {"label": "Fake IdP"}})
    assert p.transport.ended == []  # a change that refuses nobody ends nothing
    await p.registry.update(ADMIN, "fake", {"admission": {"required_groups": ["staff"]}})
    assert p.transport.ended == [("bob", "access_denied")]
    assert p.sessions.registry.get("alice") is not None
    assert p.sessions.registry.get("olga") is not None
    assert await refusal(p, idp, sub="bob", groups=["eng"]) == "access_denied"


async def test_deleting_ends_the_providers_sessions_and_forgets_its_issuer(
    engine: AsyncEngine, http: httpx.AsyncClient, clock: FakeClock, idp: FakeIdP
) -> None:
    p = await started(engine, http, clock)
    await p.registry.create(ADMIN, document(idp))
    await p.registry.update(ADMIN, "fake", {"enabled": True})
    await connect(p, "s1", idp)

    assert await p.registry.delete(ADMIN, "fake") == 1
    assert p.transport.ended == [("s1", "provider_disabled")]
    assert await refusal(p, idp) == "unknown_issuer"
    assert await code_of(p.registry.delete(ADMIN, "fake")) == "not_found"
    assert await RegistryRepository(engine).provider("fake") is None


async def test_a_file_provider_cannot_be_deleted(
    engine: AsyncEngine, http: httpx.AsyncClient, clock: FakeClock, idp: FakeIdP
) -> None:
    p = await started(engine, http, clock, [in_file(idp)])
    assert await code_of(p.registry.delete(ADMIN, "fake")) == "provider_in_file"
    assert [s.id for s in p.registry.list()] == ["fake"]
    assert await RegistryRepository(engine).provider("fake") is not None


async def test_an_admin_cannot_disable_or_delete_their_own_provider(
    engine: AsyncEngine, http: httpx.AsyncClient, clock: FakeClock, idp: FakeIdP
) -> None:
    p = await started(engine, http, clock)
    await p.registry.create(ADMIN, document(idp))
    await p.registry.update(ADMIN, "fake", {"enabled": True})
    own = Actor(provider_id="fake", issuer=idp.issuer, subject="alice", name="Alice")

    assert await code_of(p.registry.update(own, "fake", {"enabled": False})) == "would_lock_out"
    assert await code_of(p.registry.delete(own, "fake")) == "would_lock_out"
    assert p.registry.get("fake").config["enabled"] is True
    assert (await connect(p, "s1", idp)).identity.provider_id == "fake"
    relabelled = await p.registry.update(own, "fake", {"display": {"label": "Mine"}})
    assert relabelled.config["display"]["label"] == "Mine"  # other edits stay allowed


async def test_preview_reads_the_stored_settings_of_a_disabled_provider(
    engine: AsyncEngine, http: httpx.AsyncClient, clock: FakeClock, idp: FakeIdP
) -> None:
    p = await started(engine, http, clock)
    await p.registry.create(ADMIN, document(idp, admission={"required_groups": ["staff"]}))
    tokens = idp.tokens(sub="bob", groups=["eng"])

    identity, refused = await p.registry.preview(
        "fake", access_token=tokens["access_token"], id_token=tokens["id_token"]
    )
    assert identity.subject == "bob"
    assert refused is not None
    assert refused.code == "access_denied"
    admitted, none = await p.registry.preview("fake", claims={"sub": "al", "groups": ["staff"]})
    assert (admitted.subject, none) == ("al", None)
    assert await code_of(p.registry.preview("nobody", claims={"sub": "x"})) == "not_found"


# -- audit ---------------------------------------------------------------------------------------


async def test_every_change_is_audited_with_before_and_after_and_the_chain_verifies(
    engine: AsyncEngine, http: httpx.AsyncClient, clock: FakeClock, idp: FakeIdP
) -> None:
    p = await started(engine, http, clock)
    await code_of(p.registry.create(ADMIN, document(idp, enabled=True)))  # refused: not recorded
    await p.registry.create(ADMIN, document(idp, name="First"))
    await p.registry.update(ADMIN, "fake", {"name": "Second"})
    await p.registry.delete(ADMIN, "fake")

    rows = await p.audit.page()
    assert [(r.action, r.target) for r in rows] == [
        ("provider.create", "provider:fake"),
        ("provider.update", "provider:fake"),
        ("provider.delete", "provider:fake"),
    ]
    assert {(r.actor_provider, r.actor_subject) for r in rows} == {("admins", "dana")}
    create, update, delete = (json.loads(r.details) for r in rows)
    assert (create["before"], create["after"]["name"]) == (None, "First")
    assert (update["before"]["name"], update["after"]["name"]) == ("First", "Second")
    assert (delete["before"]["name"], delete["after"]) == ("Second", None)
    report = await p.audit.verify(await p.audit.head())
    assert (report.ok, report.checked) == (True, 3)
