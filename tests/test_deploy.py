"""deploy/: the Grafana dashboard and the Prometheus alerts name only metrics a real server exposes.

The names are scraped from our app (``create_app``, served as in production, clustered through
the machine's Redis so the cluster's gauge is there too), never listed by hand: a renamed metric
breaks this test instead of a dashboard panel, silently, in production.
"""

import json
import re
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml  # type: ignore[import-untyped]  # PyYAML (via uvicorn[standard]) ships no types
from prometheus_client.parser import text_string_to_metric_families

from server.config import parse_settings
from tests.support.databases import migrated_database
from tests.support.fake_idp import FakeIdP
from tests.support.live import DEFAULT_ROOMS, LiveServer

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SHARED_REDIS = "redis://127.0.0.1:6379/0"
# Series Prometheus makes itself for every target (not on /metrics).
SYNTHETIC = frozenset({"up"})
# The sample names of each family type; counters are named without ``_total`` by the parser.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}
FUNCTIONS = frozenset(
    "abs absent absent_over_time avg avg_over_time bottomk ceil changes clamp clamp_max "
    "clamp_min count count_over_time count_values day_of_month day_of_week delta deriv exp "
    "floor group histogram_quantile holt_winters idelta increase irate label_join label_replace "
    "last_over_time ln log2 log10 max max_over_time min min_over_time predict_linear quantile "
    "quantile_over_time rate resets round scalar sgn sort sort_desc sqrt stddev stddev_over_time "
    "stdvar sum sum_over_time time timestamp topk vector".split()
)
KEYWORDS = frozenset(
    "by without on ignoring group_left group_right bool and or unless offset inf nan atan2".split()
)
SEVERITIES = frozenset({"critical", "warning"})
ALERTS = frozenset(
    {
        "ChatServerNotScraped",
        "ChatProviderDown",
        "ChatProviderKeysStale",
        "ChatDatabaseDown",
        "ChatWriterCommitSlow",
        "ChatConnectRefusalsSpike",
        "ChatClusterDegraded",
        "ChatRateLimitedSpike",
    }
)
INSTANCE_MATCHER = 'instance=~"$instance"'

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_OFFSET = re.compile(r"\boffset\s+-?\w+")
_TOKEN = re.compile(
    r"(?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?P<call>\s*\()?"
)


@dataclass(frozen=True)
class Exposition:
    """What /metrics says: each family's type, and every sample name a query may use."""

    families: dict[str, str]
    samples: dict[str, str]  # sample name -> its family


def sample_names(families: dict[str, str]) -> dict[str, str]:
    """Every sample name of each family (``chat_connects`` counter: ``chat_connects_total``…)."""
    names: dict[str, str] = {}
    for family, kind in families.items():
        for suffix in SUFFIXES.get(kind, ("",)):
            names[family + suffix] = family
    return names


def exposition(body: str) -> Exposition:
    families = {f.name: f.type for f in text_string_to_metric_families(body)}
    return Exposition(families, sample_names(families))


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, labels or strings).

    Raises:
        ValueError: a call of a function PromQL does not have (a typo).
    """
    text = _STRING.sub("", expr)
    for pattern in (_MATCHERS, _RANGE, _LABEL_LIST, _OFFSET):
        text = pattern.sub(" ", text)
    names = set()
    for token in _TOKEN.finditer(text):
        name = token.group("name")
        if name is None or name in KEYWORDS:
            continue
        if token.group("call"):
            if name not in FUNCTIONS:
                raise ValueError(f"unknown function {name!r} in {expr!r}")
        else:
            names.add(name)
    return names


def _delete_keys(prefix: str) -> None:
    client = redis.Redis.from_url(SHARED_REDIS)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Exposition:
    """Scrape our app on the main port (metrics token), clustered on its own Redis prefix."""
    idp, token = FakeIdP(), secrets.token_urlsafe(24)
    prefix = f"test-deploy-{uuid.uuid4().hex[:12]}"
    provider = {"id": "corp", "issuer": idp.issuer, "client_id": "spa", "audience": "api"}
    with migrated_database("sqlite", tmp_path_factory.mktemp("deploy")) as url:
        settings = parse_settings(
            {
                "server": {"allowed_origins": ["http://127.0.0.1:8000"]},
                "database": {"url": url},
                "metrics": {"port": 0, "token": token},
                "cluster": {"redis_url": SHARED_REDIS, "key_prefix": prefix},
                "providers": [provider],
                "rooms": DEFAULT_ROOMS,
            }
        )
        try:
            with LiveServer(settings, http_transport=idp.transport()) as live:
                auth = {"Authorization": f"Bearer {token}"}
                response = httpx.get(f"{live.url}/metrics", headers=auth, timeout=10)
        finally:
            _delete_keys(prefix)
    assert response.status_code == 200, response.text[:500]
    return exposition(response.text)


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    return loaded


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in _panels() for target in panel["targets"]]


def _rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    assert isinstance(loaded, dict), "alerts.yml is not a mapping"
    rules: list[dict[str, Any]] = [r for g in loaded["groups"] for r in g["rules"]]
    return rules


def test_sample_names_follow_each_family_type() -> None:
    body = (
        "# TYPE chat_connects_total counter\n"
        "# TYPE chat_connections gauge\n"
        "# TYPE chat_writer_batch_size histogram\n"
        'chat_writer_batch_size_bucket{le="+Inf"} 0.0\n'
        "chat_writer_batch_size_count 0.0\nchat_writer_batch_size_sum 0.0\n"
    )
    names = exposition(body).samples
    assert names["chat_connects_total"] == "chat_connects"
    assert names["chat_writer_batch_size_bucket"] == "chat_writer_batch_size"
    assert "chat_connections" in names
    for wrong in ("chat_connects", "chat_connections_total", "chat_writer_batch_size"):
        assert wrong not in names


def test_metric_names_skip_functions_labels_ranges_and_strings() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, instance) (rate(a_bucket{instance=~"$x",code!="b"}'
        "[$__rate_interval]))) / on (instance) group_left max(c offset 5m) > 1e-3 and d"
    )
    assert metric_names(expr) == {"a_bucket", "c", "d"}
    with pytest.raises(ValueError, match="histogram_quantille"):
        metric_names("histogram_quantille(0.5, a_bucket)")


def test_scraped_server_exposes_the_families_of_the_contract(exposed: Exposition) -> None:
    assert exposed.families["chat_connects"] == "counter"
    assert exposed.families["chat_token_verification_seconds"] == "histogram"
    assert exposed.families["chat_cluster_up"] == "gauge"
    assert "process_resident_memory_bytes" in exposed.samples


def test_dashboard_has_the_datasource_and_instance_variables() -> None:
    dashboard = _dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["type"] == "query"
    assert variables["instance"]["datasource"]["uid"] == "${datasource}"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_dashboard_query_uses_the_variables() -> None:
    for panel in _panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            for name in metric_names(target["expr"]):
                selector = rf"(?<![\w:]){re.escape(name)}(?![\w:])(\{{[^}}]*\}})?"
                selectors = re.findall(selector, target["expr"])
                assert all(INSTANCE_MATCHER in s for s in selectors), (panel["title"], name)


def test_dashboard_names_only_exposed_metrics(exposed: Exposition) -> None:
    for expr in _dashboard_exprs():
        unknown = metric_names(expr) - exposed.samples.keys()
        assert not unknown, (unknown, expr)


def test_dashboard_shows_every_chat_family(exposed: Exposition) -> None:
    shown = {exposed.samples[n] for e in _dashboard_exprs() for n in metric_names(e)}
    families = {f for f in exposed.families if f.startswith("chat_")}
    assert families - shown - {f for f in families if f.endswith("_created")} == set()


def test_alert_rules_are_complete() -> None:
    rules = _rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    assert set(names) == ALERTS
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert "Runbook:" in rule["annotations"]["description"], rule["alert"]


def test_alerts_name_only_exposed_metrics(exposed: Exposition) -> None:
    known = exposed.samples.keys() | SYNTHETIC
    for rule in _rules():
        unknown = metric_names(rule["expr"]) - known
        assert not unknown, (rule["alert"], unknown)
