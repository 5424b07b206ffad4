"""What `rollouts render` emits for the examples, and what it must never emit."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from rendered_docs import docs_of, one
from rollouts.project import load_project
from rollouts.render import RenderResult, render

EXAMPLES = ["billing-worker", "checkout", "frontend"]


def test_every_example_renders_in_every_environment(rendered: RenderResult, root: Path) -> None:
    for env in ("staging", "production"):
        for service in EXAMPLES:
            base = f"flux/apps/{env}/{service}/"
            assert {"canary.yaml", "release.yaml", "policy.yaml", "metrics.yaml", "kustomization.yaml"} <= {
                p[len(base):] for p in rendered.files if p.startswith(base)}
    assert "flux/bootstrap/rollouts/infrastructure.yaml" in rendered.files


@pytest.mark.parametrize("service", EXAMPLES)
@pytest.mark.parametrize("env", ["staging", "production"])
def test_nothing_flagger_generates_is_emitted(rendered: RenderResult, service: str, env: str) -> None:
    everything = docs_of(rendered, "flux/")
    canary = one(docs_of(rendered, f"flux/apps/{env}/{service}/"), "Canary")
    apex, namespace = canary["metadata"]["name"], canary["metadata"]["namespace"]
    for doc in everything:
        kind, name = doc["kind"], doc.get("metadata", {}).get("name", "")
        ns = doc.get("metadata", {}).get("namespace", "")
        assert not name.endswith("-primary"), doc
        controller = (kind, ns, name) == ("Service", "flagger-system", "analysis-controller")  # ours, not Flagger's
        assert controller or kind not in ("Service", "TrafficSplit", "ServiceProfile"), doc
        assert not (kind == "HTTPRoute" and ns == namespace and name == apex), doc
        if kind == "Deployment":
            pytest.fail(f"a Deployment is the chart's to create: {name}")


def test_canary_on_linkerd_gateway_api(rendered: RenderResult) -> None:
    canary = one(docs_of(rendered, "flux/apps/production/checkout/"), "Canary")
    spec = canary["spec"]
    assert spec["provider"] == "gatewayapi:v1beta1"
    assert spec["revertOnDeletion"] is True
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["autoscalerRef"] == {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                                     "name": "checkout"}
    assert spec["service"]["gatewayRefs"] == [
        {"name": "checkout", "namespace": "shop", "group": "core", "kind": "Service", "port": 8080},
        {"name": "public", "namespace": "gateway-system", "group": "gateway.networking.k8s.io", "kind": "Gateway"}]
    analysis = spec["analysis"]
    assert analysis["stepWeights"] == [5, 25, 50]
    assert "iterations" not in analysis and "match" not in analysis
    metrics = {m["name"]: m for m in analysis["metrics"]}
    assert metrics["success-rate"]["thresholdRange"] == {"min": 99}
    assert metrics["latency-p99"]["thresholdRange"] == {"max": 500}
    assert metrics["error-budget-burn"]["templateRef"] == {"name": "checkout-error-budget-burn", "namespace": "shop"}
    hooks = {w["name"]: w for w in analysis["webhooks"]}
    assert hooks["load-test"]["type"] == "rollout"
    assert hooks["load-test"]["url"] == "http://flagger-loadtester.flagger-system/"
    assert hooks["load-test"]["metadata"]["cmd"] == "hey -z 1m -q 5 -c 4 http://checkout-canary.shop:8080/healthz"
    assert hooks["acceptance-test"]["type"] == "pre-rollout"
    assert hooks["acceptance-test"]["metadata"] == {
        "type": "bash", "cmd": "curl -sf http://checkout-canary.shop:8080/api/v1/ready"}
    assert analysis["alerts"] == [{"name": "payments-slack", "severity": "info",
                                   "providerRef": {"name": "checkout-payments-slack", "namespace": "shop"}}]


def test_staging_overrides_and_namespace(rendered: RenderResult) -> None:
    docs = docs_of(rendered, "flux/apps/staging/checkout/")
    canary = one(docs, "Canary")
    assert canary["metadata"]["namespace"] == "shop-staging"
    assert canary["spec"]["analysis"]["interval"] == "30s"
    assert canary["spec"]["analysis"]["threshold"] == 2
    assert one(docs, "HorizontalPodAutoscaler")["spec"]["maxReplicas"] == 3


def test_ab_test_matches_headers_and_cookies(rendered: RenderResult) -> None:
    analysis = one(docs_of(rendered, "flux/apps/production/frontend/"), "Canary")["spec"]["analysis"]
    assert "stepWeights" not in analysis
    assert analysis["iterations"] >= 1
    headers = [m["headers"] for m in analysis["match"]]
    assert {"x-canary": {"exact": "insider"}} in headers
    assert {"cookie": {"regex": "^(.*?;)?(canary=always)(;.*)?$"}} in headers


def test_blue_green_has_iterations_gates_and_no_match(rendered: RenderResult) -> None:
    docs = docs_of(rendered, "flux/apps/production/billing-worker/")
    spec = one(docs, "Canary")["spec"]
    assert spec["analysis"]["iterations"] == 5
    assert "match" not in spec["analysis"] and "stepWeights" not in spec["analysis"]
    assert "autoscalerRef" not in spec
    hooks = {w["name"]: w for w in spec["analysis"]["webhooks"]}
    assert hooks["helm-test"]["type"] == "pre-rollout"
    assert hooks["helm-test"]["metadata"] == {"type": "helmv3", "cmd": "test billing-worker -n billing"}
    assert hooks["approve-promotion"]["type"] == "confirm-promotion"
    assert hooks["approve-promotion"]["url"] == "http://flagger-loadtester.flagger-system/gate/check"
    release = one(docs, "HelmRelease")
    assert release["spec"]["values"]["replicaCount"] == 3
    staging = one(docs_of(rendered, "flux/apps/staging/billing-worker/"), "Canary")["spec"]["analysis"]
    assert "approve-promotion" not in {w["name"] for w in staging["webhooks"]}


def test_helm_release_has_the_image_and_no_replicas_when_autoscaled(rendered: RenderResult) -> None:
    docs = docs_of(rendered, "flux/apps/production/checkout/")
    release = one(docs, "HelmRelease")
    assert release["apiVersion"] == "helm.toolkit.fluxcd.io/v2"
    assert release["spec"]["chartRef"] == {"kind": "OCIRepository", "name": "checkout"}
    values = release["spec"]["values"]
    assert values["image"] == {"repository": "ghcr.io/acme/checkout", "tag": "1.4.2"}
    assert "replicaCount" not in values
    assert values["resources"]["limits"] == {"memory": "512Mi"}
    source = one(docs, "OCIRepository")
    assert source["apiVersion"] == "source.toolkit.fluxcd.io/v1"
    assert source["spec"]["ref"] == {"tag": "2.3.1"}


def test_metric_templates_query_linkerd_and_keep_flagger_variables(rendered: RenderResult) -> None:
    docs = docs_of(rendered, "flux/apps/production/checkout/")
    success = one(docs, "MetricTemplate", "checkout-success-rate")["spec"]
    assert success["provider"] == {"type": "prometheus", "address": "http://prometheus.linkerd-viz:9090"}
    assert "response_total" in success["query"] and 'deployment=~"{{ target }}"' in success["query"]
    latency = one(docs, "MetricTemplate", "checkout-latency-p99")["spec"]["query"]
    assert latency.startswith("histogram_quantile(0.99, ") and "response_latency_ms_bucket" in latency
    custom = one(docs, "MetricTemplate", "checkout-error-budget-burn")["spec"]["query"]
    assert '{{ namespace }}' in custom and custom.endswith("[{{ interval }}]))\n")


def test_policy_selects_a_label_identical_on_primary_and_canary(rendered: RenderResult) -> None:
    docs = docs_of(rendered, "flux/apps/production/checkout/")
    server = one(docs, "Server")
    assert server["apiVersion"] == "policy.linkerd.io/v1beta3"
    assert server["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/instance": "checkout"}}
    assert one(docs, "PodDisruptionBudget")["spec"]["selector"] == server["spec"]["podSelector"]
    policies = [d for d in docs if d["kind"] == "AuthorizationPolicy"]
    assert all(p["spec"]["targetRef"]["name"] == "checkout" for p in policies)
    assert not [d for d in docs if d["kind"] == "NetworkAuthentication"]


def test_namespaces_are_meshed_and_listed_once(rendered: RenderResult) -> None:
    namespaces = [d for d in docs_of(rendered, "flux/apps/production/") if d["kind"] == "Namespace"]
    assert sorted(d["metadata"]["name"] for d in namespaces) == ["billing", "shop"]
    assert all(d["metadata"]["annotations"] == {"linkerd.io/inject": "enabled"} for d in namespaces)


def test_lint_errors_stop_the_render_and_write_nothing(example_repo: Path,
                                                       run_cli: Callable[..., subprocess.CompletedProcess[str]]
                                                       ) -> None:
    spec = example_repo / "services" / "checkout" / "rollouts.yaml"
    spec.write_text(spec.read_text().replace("type: canary", "type: canery"))
    result = render(load_project(str(example_repo)))
    assert not result.ok and result.files == {}
    assert any(f.file == "services/checkout/rollouts.yaml" and f.line > 1 for f in result.findings)
    proc = run_cli("render", cwd=example_repo)
    assert proc.returncode == 1, proc.stderr
    assert "services/checkout/rollouts.yaml:" in proc.stdout
    assert not (example_repo / "flux").exists()


def test_origins_point_at_the_spec_lines(rendered: RenderResult, root: Path) -> None:
    lines = (root / "services" / "checkout" / "rollouts.yaml").read_text().splitlines()
    prod = rendered.origins["Canary/shop/checkout"]["/spec/analysis/interval"]
    assert prod[0] == "services/checkout/rollouts.yaml"
    assert lines[prod[1] - 1].strip() == "interval: 1m"
    staging = rendered.origins["Canary/shop-staging/checkout"]["/spec/analysis/interval"]
    assert "interval: 30s" in lines[staging[1] - 1]
    query = rendered.origins["MetricTemplate/shop/checkout-error-budget-burn"]["/spec/query"]
    assert lines[query[1] - 1].strip().startswith("query:")


def test_the_committed_tree_is_up_to_date(run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    proc = run_cli("render", "--check", "--no-cache")  # --no-cache: no test writes into the repository
    assert proc.returncode == 0, proc.stdout + proc.stderr


STEP_WEIGHT_SPEC = """\
apiVersion: rollouts/v1alpha1
kind: ServiceRollout
metadata: {name: api, namespace: team, owner: team}
spec:
  workload:
    chart: {repository: oci://r.example/c/web, version: 1.0.0}
  strategy:
    type: canary
    stepWeight: 25
    maxWeight: 50
  gates: {loadTest: {rps: 5}}
  environments:
    production: {}
"""


def test_a_step_weight_canary_renders_flaggers_linear_weights(tmp_path: Path) -> None:
    """stepWeight and maxWeight become analysis.stepWeight and analysis.maxWeight, with no stepWeights; without
    maxWeight none is rendered (Flagger's Controller.maxWeight then takes 100)."""
    folder = tmp_path / "services" / "api"
    folder.mkdir(parents=True)
    (folder / "rollouts.yaml").write_text(STEP_WEIGHT_SPEC)
    result = render(load_project(str(tmp_path)))
    assert result.ok, result.findings
    analysis = one(docs_of(result, "flux/apps/production/api/"), "Canary")["spec"]["analysis"]
    assert (analysis["stepWeight"], analysis["maxWeight"]) == (25, 50)
    assert "stepWeights" not in analysis and "iterations" not in analysis
    text = result.files["flux/apps/production/api/canary.yaml"]
    assert "    maxWeight: 50\n    stepWeight: 25\n" in text
    lines = STEP_WEIGHT_SPEC.splitlines()
    for pointer, written in (("/spec/analysis/stepWeight", "stepWeight: 25"), ("/spec/analysis/maxWeight",
                                                                                "maxWeight: 50")):
        where = result.origins["Canary/team/api"][pointer]
        assert where[0] == "services/api/rollouts.yaml" and lines[where[1] - 1].strip() == written

    (folder / "rollouts.yaml").write_text(STEP_WEIGHT_SPEC.replace("    maxWeight: 50\n", ""))
    result = render(load_project(str(tmp_path)))
    assert result.ok, result.findings
    analysis = one(docs_of(result, "flux/apps/production/api/"), "Canary")["spec"]["analysis"]
    assert analysis["stepWeight"] == 25 and "maxWeight" not in analysis and "stepWeights" not in analysis


def test_an_https_chart_gets_a_helm_repository(tmp_path: Path) -> None:
    from rollouts.project import Project
    from rollouts.spec.load import Spec

    data = {"apiVersion": "rollouts/v1alpha1", "kind": "ServiceRollout",
            "metadata": {"name": "api", "namespace": "team", "owner": "team"},
            "spec": {"workload": {"chart": {"repository": "https://charts.example/stable", "name": "web",
                                            "version": ">=1.2.0 <2"},
                                  "values": {"replicaCount": 7}, "replicas": 3},
                     "strategy": {"type": "blueGreen", "iterations": 2},
                     "environments": {"production": {}}}}
    spec = Spec("services/api/rollouts.yaml", "", data)  # type: ignore[arg-type]
    result = render(Project(str(tmp_path)), specs=[spec], services=["api"])
    assert result.ok, result.findings
    docs = docs_of(result, "flux/apps/production/api/")
    assert one(docs, "HelmRepository")["spec"]["url"] == "https://charts.example/stable"
    chart = one(docs, "HelmRelease")["spec"]["chart"]["spec"]
    assert chart == {"chart": "web", "version": ">=1.2.0 <2", "sourceRef": {"kind": "HelmRepository", "name": "api"}}
    assert one(docs, "HelmRelease")["spec"]["values"]["replicaCount"] == 3
    assert not [d for d in docs if d["kind"] in ("OCIRepository", "HorizontalPodAutoscaler")]
    assert "flux/bootstrap/rollouts/infrastructure.yaml" not in result.files  # --service leaves infra alone


def test_a_spec_without_environments_goes_to_the_projects(tmp_path: Path) -> None:
    from rollouts.project import Project
    from rollouts.spec.load import Spec

    data = {"apiVersion": "rollouts/v1alpha1", "kind": "ServiceRollout",
            "metadata": {"name": "api", "namespace": "team", "owner": "team"},
            "spec": {"workload": {"chart": {"repository": "oci://r.example/c/web", "version": "1.0.0"}},
                     "strategy": {"type": "canary", "steps": [50]}}}
    spec = Spec("services/api/rollouts.yaml", "", data)  # type: ignore[arg-type]
    result = render(Project(str(tmp_path), ("dev", "prod")), specs=[spec])
    assert result.ok, result.findings
    assert sorted(result.services) == ["dev/api", "prod/api"]
    assert result.services["dev/api"] == "team-dev"
