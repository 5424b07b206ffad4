"""The dashboards: every panel's query parses (promtool check rules) and returns data on a real Prometheus holding
the series Linkerd's proxies, the analysis controller's probes and Flagger export (backfilled with promtool), and
the JSON is deterministic."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from rollouts.render.dashboards import Subject, encode, overview_dashboard, queries, service_dashboard

from tests.prometheus_history import backfill, sample, serving

SUBJECT = Subject("checkout", "production", "shop", 99.9, "30d", ("checkout",))
LE = ("10", "50", "100", "500", "+Inf")


def _history(end: int) -> Iterator[str]:
    """Two hours of samples every 15 s, ending at ``end``."""
    for i, at in enumerate(range(end - 7200, end + 1, 15)):
        for deployment in ("checkout", "checkout-primary"):
            base = {"namespace": "shop", "deployment": deployment, "direction": "inbound"}
            yield sample("response_total", {**base, "classification": "success"}, 300 * i, at)
            yield sample("response_total", {**base, "classification": "failure"}, i, at)
            for n, le in enumerate(LE):
                yield sample("response_latency_ms_bucket", {**base, "le": le}, (60 + 60 * n) * i, at)
            yield sample("flagger_canary_weight", {"workload": deployment, "namespace": "shop"},
                         10 if deployment == "checkout" else 90, at)
        probe = {"service": "checkout", "environment": "production", "flow": "checkout", "step": "cart",
                 "track": "canary"}
        yield sample("probe_success", probe, 1, at)
        yield sample("probe_duration_seconds", probe, 0.12, at)
        yield sample("flagger_canary_status", {"name": "checkout", "namespace": "shop"}, 1, at)
        for n, le in enumerate(("60", "300", "+Inf")):
            yield sample("flagger_canary_duration_seconds_bucket", {"name": "checkout", "namespace": "shop", "le": le},
                         (i // 40) * (n + 1), at)
        yield sample("flagger_canary_failures_total", {"name": "checkout", "namespace": "shop",
                                                       "deployment_strategy": "canary", "analysis_status": "completed"},
                     i // 120, at)


def _exprs(board: dict) -> list[str]:  # type: ignore[type-arg]
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def test_every_query_parses_and_returns_data(tmp_path: Path, tool: Callable[[str], str]) -> None:
    promtool, prometheus = tool("promtool"), tool("prometheus")
    exprs = _exprs(service_dashboard(SUBJECT)) + _exprs(overview_dashboard({"production/checkout": "shop"}))
    assert sorted(exprs) == sorted([e for es in queries(SUBJECT).values() for e in es]
                                   + _exprs(overview_dashboard({"production/checkout": "shop"})))
    concrete = [e.replace("$__rate_interval", "1m") for e in exprs]
    rules = {"groups": [{"name": "panels", "rules": [{"record": f"panel:{i}", "expr": e}
                                                    for i, e in enumerate(concrete)]}]}
    (tmp_path / "rules.yaml").write_text(json.dumps(rules))
    checked = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True,
                             text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    end = int(time.time()) // 15 * 15 - 60
    with serving(prometheus, backfill(promtool, _history(end), tmp_path), tmp_path) as url:
        for expr in concrete:
            form = urllib.parse.urlencode({"query": expr, "time": end}).encode()
            with urllib.request.urlopen(f"{url}/api/v1/query", form, timeout=10) as response:
                answer = json.load(response)
            assert answer["status"] == "success", expr
            assert answer["data"]["result"], f"no data: {expr}"


def test_the_json_is_deterministic_and_names_its_datasource() -> None:
    first, second = encode(service_dashboard(SUBJECT)), encode(service_dashboard(SUBJECT))
    assert first == second and first == json.dumps(json.loads(first), sort_keys=True, separators=(",", ":"))
    board = json.loads(first)
    assert board["uid"] == "rollouts-production-checkout" and board["title"] == "rollouts: checkout in production"
    assert {p["datasource"]["uid"] for p in board["panels"] if "targets" in p} == {"${datasource}"}
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource"]
    # Linkerd's labels as the SLO templates use them; Flagger's as pkg/metrics/recorder.go sets them
    exprs = "\n".join(_exprs(board))
    assert 'deployment=~"checkout-primary", direction="inbound"' in exprs
    assert 'flagger_canary_weight{workload=~"checkout|checkout-primary", namespace="shop"}' in exprs
