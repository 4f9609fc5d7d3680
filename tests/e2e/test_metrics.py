"""Metrics after real traffic: each family has the values that traffic implies."""

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devidp.process import DevIdp
from tests.e2e.conftest import Accounts
from tests.e2e.test_sessions import EventClient
from tests.support.clients import refusal
from tests.support.databases import migrated_database
from tests.support.live import LiveServer, dev_provider, free_port, make_settings

TOKEN = "metrics-token-0123456789"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def metered(devidp: DevIdp, tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    """A server whose metrics listen on their own port and on the main one, with a token."""
    port = free_port()
    with migrated_database("sqlite", tmp_path) as url:
        settings = make_settings(
            database_url=url,
            providers=[dev_provider(devidp.issuer)],
            sessions={"message_burst": 3, "messages_per_second": 0.01},
            metrics={"port": port, "token": TOKEN},
        )
        with LiveServer(settings) as live:
            yield live, f"http://127.0.0.1:{port}/metrics"


def scrape(url: str, **headers: str) -> Samples:
    response = httpx.get(url, headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_traffic_shows_in_every_family(
    metered: tuple[LiveServer, str], accounts: Accounts
) -> None:
    live, own_port = metered
    alice, bob = EventClient(), EventClient()
    await alice.connect(live.url, accounts.auth("alice"))
    await bob.connect(live.url, accounts.auth("bob"))
    assert (await refusal(live.url, {"access_token": "not.a.jwt"}))["code"] == "invalid_token"
    assert (await alice.call("join", {"room": "general"}))["ok"]
    codes = []
    for index in range(4):  # message_burst = 3: the fourth is refused
        ack = await alice.call("send_message", {"room": "general", "text": f"m{index}"})
        codes.append("ok" if ack["ok"] else ack["error"]["code"])
    assert codes == ["ok", "ok", "ok", "rate_limited"]
    assert (await alice.call("no_such_event", {}))["error"]["code"] == "unknown_event"
    await asyncio.sleep(0.1)

    samples = scrape(own_port)
    assert value(samples, "chat_connections", provider="dev") == 2
    assert value(samples, "chat_connects_total", provider="dev", code="ok") == 2
    assert value(samples, "chat_connects_total", provider="unknown", code="invalid_token") == 1
    assert value(samples, "chat_token_verification_seconds_count", outcome="ok") == 2
    assert value(samples, "chat_token_verification_seconds_count", outcome="refused") == 1
    assert value(samples, "chat_events_total", event="join", code="ok") == 1
    assert value(samples, "chat_events_total", event="send_message", code="ok") == 3
    assert value(samples, "chat_events_total", event="send_message", code="rate_limited") == 1
    assert value(samples, "chat_events_total", event="other", code="unknown_event") == 1
    assert value(samples, "chat_rate_limited_total", scope="message") == 1
    assert value(samples, "chat_messages_persisted_total") == 3
    assert value(samples, "chat_writer_batch_size_count") >= 1
    assert value(samples, "chat_writer_batch_size_sum") == 3
    assert value(samples, "chat_writer_commit_seconds_count") >= 1
    assert value(samples, "chat_provider_up", provider="dev") == 1
    assert value(samples, "chat_jwks_fetches_total", provider="dev", result="ok") >= 1
    assert value(samples, "chat_jwks_fetches_total", provider="dev", result="error") == 0
    assert 0 <= value(samples, "chat_jwks_key_age_seconds", provider="dev") < 600
    assert value(samples, "chat_asyncio_tasks") > 0
    assert value(samples, "process_resident_memory_bytes") > 0
    assert ("chat_cluster_up", ()) not in samples  # one process: no cluster gauge

    # Another user's tokens end the session (the ack never comes: the socket is closed first).
    refresh = asyncio.create_task(bob.sio.call("refresh_token", accounts.auth("alice"), timeout=2))
    assert await bob.wait_event("session_ended") == {"reason": "identity_changed"}
    await asyncio.wait_for(bob.disconnected.wait(), 5)
    refresh.cancel()
    after = scrape(live.url + "/metrics", authorization=f"Bearer {TOKEN}")  # the main port
    assert value(after, "chat_sessions_ended_total", reason="identity_changed") == 1
    assert value(after, "chat_connections", provider="dev") == 1
    await alice.close()


def test_back_channel_logouts_and_the_database_are_counted(
    metered: tuple[LiveServer, str],
) -> None:
    live, own_port = metered
    posted = httpx.post(
        live.url + "/oidc/backchannel-logout/dev", data={"logout_token": "forged"}, timeout=5
    )
    assert posted.status_code == 400
    assert httpx.get(live.url + "/healthz", timeout=5).status_code == 200  # checks the database
    samples = scrape(own_port)
    assert value(samples, "chat_backchannel_logouts_total", result="invalid_token") == 1
    assert value(samples, "chat_database_up") == 1


def test_the_main_port_serves_metrics_only_with_the_token(
    metered: tuple[LiveServer, str],
) -> None:
    live, _ = metered
    for headers in (
        {},
        {"authorization": "Bearer wrong-token-0123456789"},
        {"authorization": TOKEN},
    ):
        response = httpx.get(live.url + "/metrics", headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_without_a_token_the_main_port_has_no_metrics(server: LiveServer) -> None:
    response = httpx.get(server.url + "/metrics", timeout=5)
    assert response.status_code == 404


def test_the_own_port_answers_only_metrics_and_drops_junk(
    metered: tuple[LiveServer, str],
) -> None:
    _, own_port = metered
    base = own_port.removesuffix("/metrics")
    assert httpx.get(base + "/", timeout=5).status_code == 404
    assert httpx.get(base + "/metrics/../admin", timeout=5).status_code == 404
    assert httpx.head(own_port, timeout=5).status_code == 200
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert raw.recv(100) == b""  # closed without an answer
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"a" * 10_000 + b"\r\n\r\n")
        assert raw.recv(100) == b""  # an oversized head: closed
    assert httpx.get(own_port, timeout=5).status_code == 200  # still serving
