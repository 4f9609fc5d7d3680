"""The cluster benchmark end to end, in quick mode: one process, then 1 and 2 nodes on Redis."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from bench.redis_probe import REDIS_URL

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATIONS = ["ours-postgres", "cluster-1", "cluster-2"]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One quick run, shared by the tests below (it takes about 20 s)."""
    output = tmp_path_factory.mktemp("cluster-bench") / "cluster.json"
    command = [sys.executable, "-m", "bench.cluster", "--quick", "--nodes", "1,2"]
    completed = subprocess.run(
        [*command, "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "cluster-2" in completed.stdout  # the table was printed
    found: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    return found


def test_quick_cluster_run_counts_every_delivery_across_nodes(results: dict[str, Any]) -> None:
    assert results["errors"] == {}
    assert results["meta"]["mode"] == "quick"
    assert results["meta"]["configurations"] == CONFIGURATIONS
    assert results["ratios"]["ours-postgres"] == 1.0
    for name in CONFIGURATIONS:
        figures = results["figures"][name]
        assert figures["deliveries_per_s"] > 0, name
        assert figures["server_cpu_us_per_delivery"] > 0, name
        assert figures["delivered_fraction"] == 1.0, name  # nothing lost, across Redis included
        assert results["ratios"][name] > 0, name
        for scenario in ("fanout", "latency"):
            detail = results["details"][name][scenario]
            assert detail["samples"] == detail["expected"], (name, scenario)
    two = results["details"]["cluster-2"]
    assert two["fanout"]["remote_samples"] > 0  # half the room sits on the other node
    assert two["latency"]["remote_samples"] > 0
    fanout_window = results["windows"]["cluster-2"]["fanout"]
    assert len(fanout_window["per_node_cpu_s"]) == 2
    assert all(seconds > 0 for seconds in fanout_window["per_node_cpu_s"])
    assert fanout_window["redis_publish_calls"] >= two["fanout"]["acked"]  # one per message


def test_quick_cluster_run_leaves_no_keys_in_the_shared_redis(results: dict[str, Any]) -> None:
    prefixes = results["meta"]["key_prefixes"]
    assert len(prefixes) == 2  # cluster-1 and cluster-2, each its own
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        for prefix in prefixes:
            assert list(client.scan_iter(match=f"{prefix}:*", count=500)) == []
    finally:
        client.close()
