"""The SLO rules builder (render/builders/slo.py) on specs the examples do not have: which objective drives the
availability rules, limits scaled to another budget window, a latency threshold between two Linkerd buckets, a
100% objective, another environment."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from rollouts.project import load_project
from rollouts.render import RenderOptions, render
from rollouts.render.builders import service_documents
from rollouts.render.engine import render_text
from rollouts.spec.load import Spec
from rollouts.spec.resolve import resolve

SPEC: dict[str, Any] = {
    "apiVersion": "rollouts/v1alpha1", "kind": "ServiceRollout",
    "metadata": {"name": "web", "namespace": "shop", "owner": "team"},
    "spec": {
        "workload": {"chart": {"repository": "oci://ghcr.io/acme/charts/web", "version": "1.0.0"},
                     "image": {"repository": "ghcr.io/acme/web", "tag": "1.0.0"}, "port": 8080},
        "strategy": {"type": "canary", "steps": [10, 50]},
        "environments": {"production": {}, "staging": {}},
    },
}


def rule_of(env: str = "production", **sections: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The rendered PrometheusRule of ``web`` with ``sections`` in its spec (None when there is none), and the
    origins of the objects."""
    data = copy.deepcopy(SPEC)
    data["spec"].update(sections)
    spec = Spec("services/web/rollouts.yaml", "", data)  # type: ignore[arg-type]
    files, origins, _ = service_documents(resolve(spec, env))
    if "slo-rules.yaml" not in files:
        return None, origins
    assert "slo-rules.yaml" in files["kustomization.yaml"][0].context["resources"]
    (doc,) = [d for d in yaml.safe_load_all(render_text(files["slo-rules.yaml"])) if d]
    return doc, origins


def alerts(rule: dict[str, Any], group: int = 0) -> list[dict[str, Any]]:
    return [r for r in rule["spec"]["groups"][group]["rules"] if "alert" in r]


def test_no_slo_and_no_error_budget_no_rules() -> None:
    assert rule_of()[0] is None


def test_the_default_success_rate_over_30_days_without_an_error_budget() -> None:
    rule, origins = rule_of(slo={})
    assert rule is not None
    assert [g["name"] for g in rule["spec"]["groups"]] == ["web-production-availability"]
    page, ticket = alerts(rule)
    assert "(14.4 * 0.01)" in page["expr"] and "(6 * 0.01)" in page["expr"]  # slo.successRate defaults to 99
    assert "(3 * 0.01)" in ticket["expr"] and "(1 * 0.01)" in ticket["expr"]
    assert "99% over 30d" in page["annotations"]["description"]
    assert origins["PrometheusRule/shop/web-slo"]["/spec/groups/0"] == ("spec", "slo", "successRate")


def test_the_error_budget_drives_availability_and_its_window_scales_the_limits() -> None:
    rule, origins = rule_of(slo={"successRate": 99}, policy={"errorBudget": {"objective": 99.95, "window": "7d"}})
    assert rule is not None
    page, ticket = alerts(rule)
    # share x 168h / long window: 2% -> 3.36, 5% -> 1.4, 10% -> 0.7 and 0.233333
    assert "(3.36 * 0.0005)" in page["expr"] and "(1.4 * 0.0005)" in page["expr"]
    assert "(0.7 * 0.0005)" in ticket["expr"] and "(0.233333 * 0.0005)" in ticket["expr"]
    assert "99.95% over 7d" in page["annotations"]["description"]
    assert origins["PrometheusRule/shop/web-slo"]["/spec/groups/0"] == ("spec", "policy", "errorBudget")


def test_a_pair_longer_than_the_budget_window_is_left_out() -> None:
    rule, _ = rule_of(policy={"errorBudget": {"objective": 99, "window": "1d"}})
    assert rule is not None
    page, ticket = alerts(rule)
    assert "ratio_rate1h" in page["expr"] and "ratio_rate6h" in page["expr"]
    assert "ratio_rate1d" in ticket["expr"] and "ratio_rate3d" not in ticket["expr"]


def test_a_100_percent_objective_has_no_budget_to_burn() -> None:
    rule, _ = rule_of(slo={"successRate": 100})
    assert rule is None
    rule, _ = rule_of(slo={"successRate": 100, "latencyP95": "300ms"})
    assert rule is not None and [g["name"] for g in rule["spec"]["groups"]] == ["web-production-latency-p95"]


@pytest.mark.parametrize(("threshold", "bound"), [("500ms", "500"), ("1s", "1000"), ("250ms", "200"),
                                                  ("2m", "50000")], ids=["500ms", "1s", "250ms", "2m"])
def test_a_latency_slo_counts_up_to_a_linkerd_bucket_bound(threshold: str, bound: str) -> None:
    rule, _ = rule_of(slo={"latencyP99": threshold})
    assert rule is not None
    latency = rule["spec"]["groups"][1]
    assert latency["name"] == "web-production-latency-p99"
    assert f'le=~"{bound}(\\\\.0)?"' in latency["rules"][0]["expr"]
    description = alerts(rule, 1)[0]["annotations"]["description"]
    assert f"requests slower than {bound}ms" in description
    assert ("bucket bound" in description) == (threshold in ("250ms", "2m"))
    assert "(14.4 * 0.01)" in alerts(rule, 1)[0]["expr"]


def test_staging_has_its_own_labels_namespace_and_runbook() -> None:
    rule, _ = rule_of("staging", slo={})
    assert rule is not None
    assert rule["metadata"]["namespace"] == "shop-staging"
    page, _ = alerts(rule)
    assert page["labels"] == {"severity": "page", "slo": "availability", "service": "web", "environment": "staging",
                              "namespace": "shop-staging"}
    assert page["annotations"]["runbook_url"] == "flux/apps/staging/web/RUNBOOK.md"
    assert 'namespace="shop-staging", deployment=~"web|web-primary"' in rule["spec"]["groups"][0]["rules"][0]["expr"]


@pytest.mark.parametrize("develop", [False, True], ids=["examples", "with-the-develop-pack"])
def test_every_runbook_url_names_a_runbook_the_render_writes(root: Path, develop: bool) -> None:
    result = render(load_project(str(root)), options=RenderOptions(develop=develop))
    assert result.ok, result.findings
    urls = {rule["annotations"]["runbook_url"] for path, text in result.files.items() if path.endswith("slo-rules.yaml")
            for doc in yaml.safe_load_all(text) if doc and doc["kind"] == "PrometheusRule"
            for group in doc["spec"]["groups"] for rule in group["rules"] if "alert" in rule}
    assert urls and all(url in result.files and url.endswith("RUNBOOK.md") for url in urls), sorted(urls)
    assert ("flux/infrastructure/progressive-delivery/develop/RUNBOOK.md" in urls) is develop
