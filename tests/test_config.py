"""Configuration: every mistake is reported at start-up with its location."""

from pathlib import Path
from typing import Any

import pytest

from server.config import load_settings, parse_settings
from server.errors import ConfigError

PROVIDER = {
    "id": "corp",
    "issuer": "https://idp.example.com",
    "client_id": "spa",
    "audience": "api",
}


def settings(**overrides: Any) -> dict[str, Any]:
    return {"providers": [PROVIDER], **overrides}


def test_the_committed_configs_are_valid() -> None:
    for path in ("config/example.toml", "config/dev.toml", "config/cluster.toml"):
        assert load_settings(path, environ={}).providers


def test_the_cluster_is_off_unless_a_redis_url_is_given() -> None:
    assert not parse_settings(settings()).cluster.enabled
    on = load_settings("config/dev.toml", environ={"CHAT_REDIS_URL": "redis://127.0.0.1:6379/3"})
    assert on.cluster.enabled
    assert on.cluster.redis_url == "redis://127.0.0.1:6379/3"


@pytest.mark.parametrize(
    ("cluster", "location"),
    [
        ({"redis_url": "http://127.0.0.1:6379"}, "cluster.redis_url"),
        ({"key_prefix": "no spaces allowed"}, "cluster.key_prefix"),
        ({"heartbeat_seconds": 0}, "cluster.heartbeat_seconds"),
        ({"socket_ttl_seconds": 0.5}, "cluster.socket_ttl_seconds"),
    ],
)
def test_bad_cluster_settings_are_refused_by_name(cluster: dict[str, Any], location: str) -> None:
    with pytest.raises(ConfigError, match=location.replace(".", r"\.")):
        parse_settings(settings(cluster=cluster))


def test_defaults() -> None:
    parsed = parse_settings(settings())
    provider = parsed.providers[0]
    assert provider.algorithms == ("RS256", "PS256", "ES256", "EdDSA")
    assert provider.leeway_seconds == 60
    assert parsed.server.max_message_chars == 4000
    assert parsed.database.url.startswith("sqlite+aiosqlite://")


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"providers": [{**PROVIDER, "algorithms": ["HS256"]}]}, "providers.0.algorithms"),
        ({"providers": [{**PROVIDER, "algorithms": ["none"]}]}, "providers.0.algorithms"),
        ({"providers": [{**PROVIDER, "issuer": "http://idp.example.com"}]}, "providers.0.issuer"),
        ({"providers": [{**PROVIDER, "leeway_seconds": 600}]}, "providers.0.leeway_seconds"),
        ({"providers": [{**PROVIDER, "client_id": ""}]}, "providers.0.client_id"),
        ({"providers": [{**PROVIDER, "unknown": 1}]}, "providers.0.unknown"),
        ({"providers": []}, "(top level)"),
        ({"providers": [PROVIDER, PROVIDER]}, "duplicate provider id"),
        (settings(server={"allowed_origins": []}), "server.allowed_origins"),
        (settings(server={"allowed_origins": ["*"]}), "server.allowed_origins"),
        (settings(server={"max_message_chars": 100_000, "max_payload_bytes": 65536}), "server"),
        (settings(database={"url": "mysql://x"}), "database.url"),
        (settings(rooms=[{"slug": "Bad Slug", "name": "x"}]), "rooms.0.slug"),
        (
            settings(rooms=[{"slug": "a", "name": "A"}, {"slug": "a", "name": "B"}]),
            "duplicate room slug",
        ),
    ],
)
def test_mistakes_are_reported_with_their_location(raw: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(raw)
    assert where in str(info.value)


def test_environment_overrides_the_database_url(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[providers]]\nid="a"\nissuer="https://i.test"\nclient_id="c"\naudience="x"\n')
    loaded = load_settings(path, environ={"CHAT_DATABASE_URL": "postgresql://u@127.0.0.1/db"})
    assert loaded.database.url == "postgresql+asyncpg://u@127.0.0.1/db"


def test_missing_and_broken_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken, environ={})
