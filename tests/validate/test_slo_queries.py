"""The built-in SLO MetricTemplates, as rendered, on synthetic Linkerd series: `promtool test rules` puts a healthy
canary and a failing canary on the right sides of the threshold, and a canary without traffic gives no data (the
case Flagger halts on); then the success-rate query against a real Prometheus server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rollouts.validate.manifests import Locator
from rollouts.validate.promql import collect

from tests.prometheus_history import backfill, serving
from tests.validate.rendered import render_examples

# checkout with both latency SLOs, so every built-in template is rendered
EDIT = {"checkout": ("    latencyP99: 500ms\n", "    latencyP99: 500ms\n    latencyP95: 300ms\n")}
SLOS = ("success-rate", "latency-p99", "latency-p95")


def _slo_queries(tmp: Path) -> dict[str, tuple[str, dict[str, Any], dict[str, str]]]:
    """SLO -> (filled query of the production checkout canary, its thresholdRange, series labels)."""
    import yaml

    project, _ = render_examples(tmp, EDIT)
    tree = os.path.join(project.root, "flux")
    queries, findings = collect(tree, Locator(project.root))
    assert findings == []
    canaries = {}
    for path in Path(tree).rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Canary" and doc["metadata"]["name"] == "checkout":
                canaries[doc["metadata"]["namespace"]] = doc
    namespace = min(canaries, key=len)  # production: the plain namespace
    canary = canaries[namespace]
    out = {}
    for metric in canary["spec"]["analysis"]["metrics"]:
        slo = next((s for s in SLOS if metric["templateRef"]["name"].endswith(s)), None)
        if slo is None:
            continue
        (query,) = {q.text for q in queries if q.label == f"Canary {namespace}/checkout"
                    and q.name == metric["templateRef"]["name"]}
        labels = {"namespace": namespace, "deployment": canary["spec"]["targetRef"]["name"],
                  "direction": metric.get("templateVariables", {}).get("direction", "inbound")}
        out[slo] = (query, metric["thresholdRange"], labels)
    assert sorted(out) == sorted(SLOS)
    return out


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"series": f"{name}{{{inner}}}", "values": values}


def _traffic(labels: dict[str, str], healthy: bool) -> list[dict[str, str]]:
    """Linkerd proxy series for the canary pods (per 15 s), plus noise the queries must ignore."""
    ok, failed = ("199", "1") if healthy else ("90", "10")
    # latency buckets (ms): healthy all under 100 ms; failing half of them between 500 and 1000 ms
    buckets = {"100": "100", "500": "100", "1000": "100", "+Inf": "100"} if healthy else \
        {"100": "10", "500": "50", "1000": "100", "+Inf": "100"}
    primary = {**labels, "deployment": labels["deployment"] + "-primary"}
    outbound = {**labels, "direction": "outbound"}
    series = [
        _series("response_total", {**labels, "classification": "success"}, f"0+{ok}x40"),
        _series("response_total", {**labels, "classification": "failure"}, f"0+{failed}x40"),
        _series("response_total", {**primary, "classification": "failure"}, "0+500x40"),
        _series("response_total", {**outbound, "classification": "failure"}, "0+500x40"),
    ]
    series += [_series("response_latency_ms_bucket", {**labels, "le": le}, f"0+{n}x40") for le, n in buckets.items()]
    series += [_series("response_latency_ms_bucket", {**primary, "le": le}, "0+100x40")
               for le in ("100", "500", "1000")] + [_series("response_latency_ms_bucket",
                                                            {**primary, "le": "+Inf"}, "0+100x40")]
    return series


def _passes(query: str, threshold: dict[str, Any], healthy: bool) -> str:
    """An expression that returns 1 exactly when the value is on the expected side of Flagger's thresholdRange."""
    if "min" in threshold:
        op = ">=" if healthy else "<"
        return f"count(({query}) {op} {threshold['min']})"
    op = "<=" if healthy else ">"
    return f"count(({query}) {op} {threshold['max']})"


def test_slo_queries_with_promtool_test_rules(tmp_path: Path, tool: Callable[[str], str]) -> None:
    promtool = tool("promtool")
    slos = _slo_queries(tmp_path)
    labels = slos["success-rate"][2]
    tests = []
    for healthy in (True, False):
        tests.append({
            "interval": "15s",
            "input_series": _traffic(labels, healthy),
            "promql_expr_test": [{"expr": _passes(query, threshold, healthy), "eval_time": "5m",
                                  "exp_samples": [{"labels": "{}", "value": 1}]}
                                 for query, threshold, _ in slos.values()],
        })
    # no traffic on the canary: every SLO query returns no data
    no_traffic = [s for s in _traffic(labels, True) if "-primary" in s["series"] or "outbound" in s["series"]]
    tests.append({"interval": "15s", "input_series": no_traffic,
                  "promql_expr_test": [{"expr": query, "eval_time": "5m", "exp_samples": []}
                                       for query, _, _ in slos.values()]})
    # and the exact values, so a query that ignores its labels cannot pass by luck
    success, _, _ = slos["success-rate"]
    p99, _, _ = slos["latency-p99"]
    tests.append({"interval": "15s", "input_series": _traffic(labels, False),
                  "promql_expr_test": [
                      {"expr": f"round({success})", "eval_time": "5m",
                       "exp_samples": [{"labels": "{}", "value": 90}]},
                      {"expr": f"round({p99})", "eval_time": "5m",
                       "exp_samples": [{"labels": "{}", "value": 990}]}]})
    path = tmp_path / "slo_test.yml"
    path.write_text(json.dumps({"rule_files": [], "evaluation_interval": "1m", "tests": tests}, indent=1))
    proc = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return dict(json.load(response))


def test_success_rate_query_on_a_real_prometheus(tmp_path: Path, tool: Callable[[str], str]) -> None:
    promtool, prometheus = tool("promtool"), tool("prometheus")
    query, threshold, labels = _slo_queries(tmp_path / "render")["success-rate"]
    # 20 minutes of samples every 15 s, ending 10 minutes ago: 199 successes and 1 failure per 15 s
    end = int(time.time()) // 60 * 60 - 600
    start = end - 1200
    lines = []
    for i, t in enumerate(range(start, end + 1, 15)):
        for cls, per in (("success", 199), ("failure", 1)):
            inner = ",".join(f'{k}="{v}"' for k, v in sorted({**labels, "classification": cls}.items()))
            lines.append(f"response_total{{{inner}}} {i * per} {t}")
    data = backfill(promtool, lines, tmp_path)
    with serving(prometheus, data, tmp_path) as base:
        at = end - 300
        result = _get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query, "time": at}))
        assert result["status"] == "success", result
        ((sample),) = result["data"]["result"]
        value = float(sample["value"][1])
        assert value == pytest.approx(99.5)
        assert value >= threshold["min"]
        # a broken query is refused by the server with the parser's message, as promtool refuses it
        bad = urllib.parse.urlencode({"query": query + ")", "time": at})
        with pytest.raises(urllib.error.HTTPError) as e:
            _get(f"{base}/api/v1/query?{bad}")
        e.value.close()
        assert e.value.code == 400

