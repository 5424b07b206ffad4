"""The dashboards: every panel's query parses (promtool check rules) and returns data on a real Prometheus holding
the series Linkerd's proxies, the analysis controller's probes, Flagger and helm-controller export (backfilled with
promtool); every rendered dashboard passes grafana/dashboard-linter's rules (tests/dashboard_lint.py, our port),
and the checker finds each rule's violation; the JSON is deterministic."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rollouts.render import RenderResult
from rollouts.render.builders.dashboards import dashboard_json
from rollouts.render.dashboards import Subject, encode, overview_dashboard, queries, service_dashboard

from tests.dashboard_lint import COMMIT, RULES, lint
from tests.prometheus_history import backfill, sample, serving

SUBJECT = Subject("checkout", "production", "shop", 99.9, "30d", ("checkout",))
FLUX_ALONE = Subject("inventory", "production", "shop", 99.9, "30d", (), flux_alone=True)
LE = ("10", "50", "100", "500", "+Inf")

# What a .lint file beside the dashboards would say (lint/configuration.go semantics: no entries, every dashboard).
LINT_CONFIG: dict[str, Any] = {"exclusions": {rule: {"reason": REASON} for rule, REASON in {
    **dict.fromkeys(("template-job-rule", "template-instance-rule", "target-job-rule", "target-instance-rule"),
                    "The mixins' job/instance convention does not fit these dashboards: each one joins series that "
                    "different scrape jobs collect (Linkerd's proxies, Flagger, helm-controller, the analysis "
                    "controller; their job names are whatever the cluster's Prometheus configuration calls them), "
                    "and selects them by the labels the workloads set themselves (namespace, deployment, name), "
                    "as the MetricTemplates and SLO rules do; an instance filter would have to stay on All for the "
                    "budget and rate panels to mean anything."),
}.items()}}


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
        # inventory (fluxRollback): its one Deployment, and helm-controller's HelmRelease reconciliations
        # (fluxcd/pkg runtime/metrics: gotk_reconcile_duration_seconds{kind, name, namespace}, one every 5 minutes)
        base = {"namespace": "shop", "deployment": "inventory", "direction": "inbound"}
        yield sample("response_total", {**base, "classification": "success"}, 100 * i, at)
        yield sample("response_total", {**base, "classification": "failure"}, i // 10, at)
        for n, le in enumerate(LE):
            yield sample("response_latency_ms_bucket", {**base, "le": le}, (20 + 20 * n) * i, at)
        release = {"kind": "HelmRelease", "name": "inventory", "namespace": "shop"}
        yield sample("gotk_reconcile_duration_seconds_count", release, i // 20, at)
        for n, le in enumerate(("1", "30", "+Inf")):
            yield sample("gotk_reconcile_duration_seconds_bucket", {**release, "le": le}, (i // 20) * n // 2, at)


def _exprs(board: dict) -> list[str]:  # type: ignore[type-arg]
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def test_every_query_parses_and_returns_data(tmp_path: Path, tool: Callable[[str], str]) -> None:
    promtool, prometheus = tool("promtool"), tool("prometheus")
    overview = _exprs(overview_dashboard("production", {"production/checkout": "shop"}))
    exprs = _exprs(service_dashboard(SUBJECT)) + _exprs(service_dashboard(FLUX_ALONE)) + overview
    assert sorted(exprs) == sorted([e for s in (SUBJECT, FLUX_ALONE) for es in queries(s).values() for e in es]
                                   + overview)
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


def test_a_flux_rollback_dashboard_shows_its_one_deployment_and_its_helm_release() -> None:
    board = service_dashboard(FLUX_ALONE)
    titles = [p["title"] for p in board["panels"]]
    assert titles == ["SLO: 99.9% of requests succeed over 30d", "error budget left", "success rate", "burn rate",
                      "inventory (released by Flux alone)", "success rate, inventory", "latency, inventory",
                      "request rate, inventory",
                      "releases (helm-controller)", "release reconciliations", "release reconcile duration"]
    exprs = "\n".join(_exprs(board))
    assert "primary" not in exprs and "flagger_" not in exprs and "probe_" not in exprs
    assert 'deployment=~"inventory", direction="inbound"' in exprs
    assert 'gotk_reconcile_duration_seconds_bucket{kind="HelmRelease", name="inventory", namespace="shop"}' in exprs


def _committed_dashboards(root: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every ConfigMap labelled grafana_dashboard under flux/apps, each JSON it holds, by file and key."""
    boards = []
    for path in sorted((root / "flux" / "apps").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "ConfigMap" and "grafana_dashboard" in doc["metadata"].get("labels", {}):
                boards += [(f"{path.relative_to(root)}:{key}", json.loads(text)) for key, text in doc["data"].items()]
    return boards


def test_every_rendered_dashboard_passes_the_dashboard_linter_rules(
        root: Path, rendered: RenderResult, tool: Callable[[str], str]) -> None:
    promtool = tool("promtool")
    committed = _committed_dashboards(root)
    in_memory = []
    for path, text in sorted(rendered.files.items()):
        if path.startswith("flux/apps/") and path.endswith("/dashboard.yaml"):
            doc = yaml.safe_load(text)
            in_memory += [(f"{path} (render):{k}", json.loads(v)) for k, v in doc["data"].items()]
    # every service and environment, and each environment's overview
    assert len(committed) == len(in_memory) == len(rendered.services) + 2
    for where, board in committed + in_memory:
        # the target rules run only on a dashboard whose first datasource variable is Prometheus: it must be
        assert [(v["type"], v["query"]) for v in board["templating"]["list"]] == [("datasource", "prometheus")], where
        assert lint(board, promtool, LINT_CONFIG) == [], where


BAD = {
    "title": "bad", "editable": True,
    "templating": {"list": [
        {"type": "datasource", "name": "ds", "label": "DS", "query": "prometheus"},
        {"type": "query", "name": "job", "label": "job", "query": "label_values(up{, job)", "refresh": 1,
         "datasource": "prom"},
    ]},
    "panels": [
        {"type": "row", "title": "row", "panels": [
            {"type": "timeseries", "title": "fixed", "datasource": {"uid": "prom"}, "fieldConfig": {"defaults": {}},
             "targets": [{"expr": "sum(rate(http_requests_total[5m]))"}, {"expr": "http_requests_total"},
                         {"expr": "sum(rate(x{job=~\"$job\"}[$__rate_interval])"}]}]},
        {"type": "stat", "title": "", "fieldConfig": {"defaults": {"unit": "furlongs"}}},
    ],
}
EXPECTED = {  # rule -> (panel, target) of each finding on BAD
    "template-datasource-rule": [(None, None), (None, None)],  # its name, and (a warning) its label
    "template-job-rule": [(None, None)] * 4,  # its datasource, label (a warning), multi and allValue
    "template-instance-rule": [(None, None)],
    "template-label-promql-rule": [(None, None)],
    "template-on-time-change-reload-rule": [(None, None)],
    "panel-datasource-rule": [("fixed", None)],
    "panel-title-description-rule": [("fixed", None), ("", None)],
    "panel-units-rule": [("fixed", None), ("", None)],
    "panel-no-targets-rule": [("", None)],
    "target-promql-rule": [("fixed", 2)],
    "target-rate-interval-rule": [("fixed", 0)],
    "target-job-rule": [("fixed", 0), ("fixed", 1)],
    "target-instance-rule": [("fixed", 0), ("fixed", 1)],
    "target-counter-agg-rule": [("fixed", 1)],
    "uneditable-dashboard": [(None, None)],
}


def test_the_checker_finds_each_rules_violation(tool: Callable[[str], str]) -> None:
    assert len(COMMIT) == 40 and set(EXPECTED) == set(RULES)
    findings = lint(BAD, tool("promtool"))
    found: dict[str, list[tuple[str | None, int | None]]] = {}
    for f in findings:
        found.setdefault(f.rule, []).append((f.panel, f.target))
    assert found == EXPECTED, findings
    assert {f.message for f in findings if f.severity == "warning"} == {
        "templated data source variable labeled 'DS', should be labeled one of ['Data source', 'Prometheus data "
        "source']", "job template should be labeled 'Job'"}


@pytest.mark.parametrize(("expr", "rule"), [
    pytest.param("rate(x[$__interval])", "target-rate-interval-rule", id="irate-or-rate-off-interval"),
    pytest.param("max_over_time(x[5m])", None, id="other-range-functions-may-fix-a-window"),
    pytest.param("sum(increase(errors_total[1d]))", None, id="increase-over-a-day"),
    pytest.param("errors_total / 2", "target-counter-agg-rule", id="bare-counter"),
    pytest.param("errors_total offset 5m", None, id="counter-with-offset-as-upstream-prints-it"),
    pytest.param('errors_total{a="b"}', None, id="counter-with-matchers-as-upstream-prints-it"),
    # a subquery is no range selector (upstream checks MatrixSelector only), but hides the counter from rate
    pytest.param("rate(errors_total[5m:1m])", "target-counter-agg-rule", id="subquery"),
])
def test_a_rule_on_one_query(expr: str, rule: str | None, tool: Callable[[str], str]) -> None:
    board = {"title": "one", "templating": {"list": [{"type": "datasource", "name": "datasource",
                                                      "label": "Data source", "query": "prometheus"}]},
             "panels": [{"type": "timeseries", "title": "p", "description": "d", "datasource": "$datasource",
                         "fieldConfig": {"defaults": {"unit": "none"}}, "targets": [{"expr": expr}]}]}
    assert [f.rule for f in lint(board, tool("promtool"), LINT_CONFIG)] == ([rule] if rule else [])


@pytest.mark.parametrize("subject", [
    Subject("checkout", "production", "shop", 99.9, "30d", ("buy",)),
    Subject("a" * 63, "staging", "b" * 63, 99.0, "28d", ()),  # the uid is cut at 40 characters
    Subject("zq0environment0qz", "zq0service0qz", "zq0uid0qz", 95.5, "7d", ("x", "y")),  # names like placeholders
    Subject("inventory", "staging", "shop-staging", None, "30d", (), flux_alone=True),
], ids=["canary", "long-names", "placeholder-names", "flux-alone"])
def test_a_dashboard_from_its_shape_is_the_dashboard_built_directly(subject: Subject) -> None:
    assert dashboard_json(subject) == encode(service_dashboard(subject))
