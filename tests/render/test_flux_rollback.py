"""fluxRollback (Flux alone): the inventory example renders a HelmRelease that tests each upgrade and rolls a failed
one back, and nothing of Flagger's (the real helm-controller runs it in tests/e2e/test_flux_rollback.py)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from rollouts.project import load_project
from rollouts.render import RenderResult, render, write_tree

from tests.render.rendered_docs import docs_of, one


def test_the_release_runs_the_charts_tests_and_rolls_a_failure_back(rendered: RenderResult) -> None:
    for env, timeout in (("production", "2m"), ("staging", "1m")):
        release = one(docs_of(rendered, f"flux/apps/{env}/inventory/"), "HelmRelease", "inventory")["spec"]
        assert release["timeout"] == timeout
        assert release["test"] == {"enable": True}
        # remediateLastFailure spelled out: with retries 0 helm-controller would leave the failure released
        assert release["upgrade"] == {"remediation": {"retries": 0, "strategy": "rollback",
                                                      "remediateLastFailure": True}}
        assert release["install"] == {"remediation": {"retries": 3}}


def test_nothing_of_flaggers_is_rendered(rendered: RenderResult) -> None:
    docs = docs_of(rendered, "flux/apps/production/inventory/")
    kinds = sorted({d["kind"] for d in docs})
    assert kinds == ["AuthorizationPolicy", "ConfigMap", "HTTPRoute", "HelmRelease", "HelmRepository",
                     "Kustomization", "MeshTLSAuthentication", "PodDisruptionBudget", "PrometheusRule", "Server"]
    route = one(docs, "HTTPRoute", "inventory")["spec"]
    assert route["parentRefs"] == [{"name": "internal", "namespace": "gateway-system",
                                    "group": "gateway.networking.k8s.io", "kind": "Gateway"}]
    assert route["hostnames"] == ["inventory.internal.acme.example"]
    assert route["rules"] == [{"backendRefs": [{"name": "inventory", "port": 8080}]}]
    config = one(docs_of(rendered, "flux/apps/production/analysis-controller/"), "ConfigMap",
                 "analysis-controller-production")
    assert "shop/inventory" not in json.loads(config["data"]["config.json"])["services"]


def test_flux_health_checks_the_helm_release_instead_of_a_canary(rendered: RenderResult) -> None:
    docs = yaml.safe_load_all(rendered.files["flux/bootstrap/rollouts/apps-staging.yaml"])
    by_name = {d["metadata"]["name"]: d["spec"] for d in docs}
    assert by_name["apps-staging-inventory"]["healthChecks"] == [
        {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "name": "inventory",
         "namespace": "shop-staging"}]
    assert "healthCheckExprs" not in by_name["apps-staging-inventory"]
    assert by_name["apps-staging-checkout"]["healthChecks"][0]["kind"] == "Canary"


def test_a_partial_render_keeps_the_health_check_of_a_service_it_does_not_render(example_repo: Path) -> None:
    project = load_project(str(example_repo))
    full = render(project)
    write_tree(project, full)
    part = render(load_project(str(example_repo)), services=["checkout"], environments=["staging"])
    write_tree(load_project(str(example_repo)), part)
    chain = "flux/bootstrap/rollouts/apps-staging.yaml"
    assert (example_repo / chain).read_text() == full.files[chain]
