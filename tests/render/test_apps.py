"""What the apps render must emit so that a service reconciles and rolls out on a real cluster (issue 8): each test
states one upstream fact, and fails on the tree rendered before it was fixed."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from rendered_docs import docs_of
from rollouts.lint import lint
from rollouts.project import Project, load_project
from rollouts.render import RenderResult, render
from rollouts.render.builders import service_documents
from rollouts.render.builders.gates import per_worker_rate
from rollouts.render.engine import render_text
from rollouts.render.model import UserSecret, namespace_doc, user_secrets
from rollouts.spec.load import Spec
from rollouts.spec.resolve import resolve

LOADTESTER = "http://flagger-loadtester.flagger-system/"


def kinds(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def canary_of(result: RenderResult, env: str, service: str) -> dict[str, Any]:
    (canary,) = kinds(docs_of(result, f"flux/apps/{env}/{service}/"), "Canary").values()
    return canary


def hooks(canary: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(w["name"], w["type"], w["url"]) for w in canary["spec"]["analysis"].get("webhooks", [])]


SPEC: dict[str, Any] = {
    "apiVersion": "rollouts/v1alpha1", "kind": "ServiceRollout",
    "metadata": {"name": "web", "namespace": "shop", "owner": "team"},
    "spec": {
        "workload": {"chart": {"repository": "oci://ghcr.io/acme/charts/web", "version": "1.0.0"},
                     "image": {"repository": "ghcr.io/acme/web", "tag": "1.0.0"}, "port": 8080,
                     "autoscaling": {"maxReplicas": 4}},
        "strategy": {"type": "canary", "steps": [10, 50]},
        "gates": {"loadTest": {"rps": 5}},
        "environments": {"production": {}},
    },
}


def with_spec(**sections: Any) -> dict[str, Any]:
    data = copy.deepcopy(SPEC)
    data["spec"].update(sections)
    return data


def render_docs(tmp_path: Path, data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """One spec rendered for production, without lint: file name -> documents."""
    spec = Spec("services/web/rollouts.yaml", "", data)  # type: ignore[arg-type]
    result = render(Project(str(tmp_path)), specs=[spec], environments=["production"], services=["web"])
    assert result.ok, result.findings
    base = "flux/apps/production/web/"
    return {p[len(base):]: [d for d in yaml.safe_load_all(t) if d] for p, t in result.files.items()
            if p.startswith(base) and p.endswith(".yaml")}


def lint_text(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    folder = tmp_path / "services" / "web"
    folder.mkdir(parents=True)
    (folder / "rollouts.yaml").write_text(text)
    return [(f.rule, f.message) for f in lint(load_project(str(tmp_path))).findings]


# 1. A ratio whose numerator selects the failure series is an empty vector while the canary is perfect (the proxy
#    creates the series at the first failure), and Flagger counts "no values found" as a failed check.

def test_error_budget_burn_is_zero_not_empty_for_a_perfect_canary(rendered: RenderResult) -> None:
    for env in ("staging", "production"):
        templates = kinds(docs_of(rendered, f"flux/apps/{env}/checkout/"), "MetricTemplate")
        numerator, denominator = templates["checkout-error-budget-burn"]["spec"]["query"].split("\n/\n")
        assert 'classification="failure"' in numerator
        assert numerator.startswith("(sum(rate(response_total{") and numerator.endswith(") or vector(0))")
        assert "classification" not in denominator


# 2. The linkerd-viz Prometheus scrapes only the proxies and the control plane: an application metric must be
#    queried on an application Prometheus.

def test_queue_lag_is_queried_on_the_application_prometheus(rendered: RenderResult) -> None:
    for env in ("staging", "production"):
        templates = kinds(docs_of(rendered, f"flux/apps/{env}/billing-worker/"), "MetricTemplate")
        queue_lag = templates["billing-worker-queue-lag"]["spec"]
        assert queue_lag["provider"] == {"type": "prometheus", "address": "http://prometheus.monitoring:9090"}
        # linkerd-viz adds the deployment label at scrape time; on the application Prometheus: the pod name
        assert 'pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"' in queue_lag["query"]
        assert "deployment" not in queue_lag["query"]
        assert templates["billing-worker-success-rate"]["spec"]["provider"]["address"] == (
            "http://prometheus.linkerd-viz:9090")


# 3. The loadtester's ServiceAccount has no RBAC of its own (chart rbac.create: false): helm test is refused
#    unless the tree grants it what helm v3 does in the release namespace.

HELM_TEST_RULES = [
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "update"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
]


@pytest.mark.parametrize("env,namespace", [("production", "billing"), ("staging", "billing-staging")])
def test_helm_test_gate_grants_the_loadtester_what_helm_test_needs(rendered: RenderResult, env: str,
                                                                    namespace: str) -> None:
    docs = docs_of(rendered, f"flux/apps/{env}/billing-worker/rbac.yaml")
    role = kinds(docs, "Role")["billing-worker-helm-test"]
    binding = kinds(docs, "RoleBinding")["billing-worker-helm-test"]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == namespace
    assert role["rules"] == HELM_TEST_RULES
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "billing-worker-helm-test"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "flagger-loadtester",
                                    "namespace": "flagger-system"}]
    assert ("helm-test", "pre-rollout", LOADTESTER) in hooks(canary_of(rendered, env, "billing-worker"))
    assert "rbac.yaml" in docs_of(rendered, f"flux/apps/{env}/billing-worker/kustomization.yaml")[0]["resources"]


def test_helm_test_rbac_can_be_left_to_the_user(tmp_path: Path) -> None:
    files = render_docs(tmp_path, with_spec(gates={"helmTest": {"grantRBAC": False}}))
    assert "rbac.yaml" not in files
    assert not [d for docs in files.values() for d in docs if d["kind"] in ("Role", "RoleBinding")]
    assert "helm-test" in {w["name"] for w in files["canary.yaml"][0]["spec"]["analysis"]["webhooks"]}
    assert "rbac.yaml" not in render_docs(tmp_path / "none", with_spec())


# 4. North-south traffic is split by the Gateway, listed as a parent of Flagger's own route; there is no other
#    route. An unmeshed gateway is authorized by network, or accessPolicy: deny answers it 403.

def test_the_gateway_is_a_parent_of_flaggers_route_with_the_public_and_in_cluster_hosts(
        rendered: RenderResult) -> None:
    for env, namespace, public in (("production", "shop", "checkout.acme.example"),
                                   ("staging", "shop-staging", "checkout.staging.acme.example")):
        service = canary_of(rendered, env, "checkout")["spec"]["service"]
        assert service["gatewayRefs"] == [
            {"name": "checkout", "namespace": namespace, "group": "core", "kind": "Service", "port": 8080},
            {"name": "public", "namespace": "gateway-system", "group": "gateway.networking.k8s.io",
             "kind": "Gateway"}]
        # Linkerd matches a route's hostnames for the Service parent too (linkerd2-proxy http route find):
        # without the in-cluster names every east-west request would find no route
        assert service["hosts"] == [public, "checkout", f"checkout.{namespace}", f"checkout.{namespace}.svc",
                                    f"checkout.{namespace}.svc.cluster.local"]
    frontend = canary_of(rendered, "production", "frontend")["spec"]["service"]
    assert frontend["gatewayRefs"][1] == {"name": "public", "namespace": "gateway-system",
                                          "group": "gateway.networking.k8s.io", "kind": "Gateway",
                                          "sectionName": "https"}
    assert frontend["hosts"][:2] == ["shop.acme.example", "www.shop.acme.example"]
    # Flagger makes the routes of its Canaries; only inventory, released by Flux alone, has its own
    assert {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs_of(rendered, "flux/apps/")
            if d["kind"] == "HTTPRoute"} == {("shop", "inventory"), ("shop-staging", "inventory")}
    assert "hosts" not in canary_of(rendered, "production", "billing-worker")["spec"]["service"]


def test_an_unmeshed_gateway_is_authorized_by_its_networks(tmp_path: Path) -> None:
    ingress = {"hosts": ["web.example"], "gateway": {"name": "gw", "namespace": "gateway-system",
                                                     "networks": ["10.8.0.0/16", "fd00::/8"]},
               "meshedGateway": False}
    policy = render_docs(tmp_path, with_spec(ingress=ingress))["policy.yaml"]
    (network,) = kinds(policy, "NetworkAuthentication").values()
    assert network["metadata"] == {**network["metadata"], "name": "web-gateway", "namespace": "shop"}
    assert network["spec"] == {"networks": [{"cidr": "10.8.0.0/16"}, {"cidr": "fd00::/8"}]}
    assert kinds(policy, "AuthorizationPolicy")["web-gateway"]["spec"] == {
        "targetRef": {"group": "policy.linkerd.io", "kind": "Server", "name": "web"},
        "requiredAuthenticationRefs": [{"group": "policy.linkerd.io", "kind": "NetworkAuthentication",
                                        "name": "web-gateway"}]}
    meshed = render_docs(tmp_path / "meshed", with_spec(ingress={**ingress, "meshedGateway": True}))["policy.yaml"]
    assert not kinds(meshed, "NetworkAuthentication")
    assert set(kinds(meshed, "AuthorizationPolicy")) == {"web-meshed-clients"}


BODY = """\
apiVersion: rollouts/v1alpha1
kind: ServiceRollout
metadata: {name: web, namespace: shop, owner: team}
spec:
  workload:
    chart: {repository: oci://ghcr.io/acme/charts/web, version: 1.0.0}
    image: {repository: ghcr.io/acme/web, tag: 1.0.0}
    autoscaling: {minReplicas: 2, maxReplicas: 4}
  strategy: {type: canary, steps: [10, 50], interval: 1m, threshold: 3}
  gates: {loadTest: {rps: 5}}
  environments: {production: {}}
  ingress:
    hosts: [web.example]
    gateway: {name: public, namespace: gw}
"""


def test_meshed_gateway_must_be_stated(tmp_path: Path) -> None:
    assert lint_text(tmp_path / "unstated", BODY) == [
        ("schema-required", "spec.ingress: missing required key 'meshedGateway'")]
    assert lint_text(tmp_path / "stated", BODY + "    meshedGateway: true\n") == []


def test_a_path_prefix_flagger_cannot_express_is_refused_not_dropped(tmp_path: Path) -> None:
    findings = lint_text(tmp_path, BODY + "    meshedGateway: true\n    pathPrefix: /api\n")
    assert findings == [("schema-unknown-key", "spec.ingress.pathPrefix: unknown key 'pathPrefix'")]


# 5. Staging and production must not claim the same host on the same Gateway.

def test_no_two_environments_claim_a_host_on_the_same_gateway(rendered: RenderResult) -> None:
    claimed: dict[tuple[str, str, str], str] = {}
    for env in ("staging", "production"):
        for canary in kinds(docs_of(rendered, f"flux/apps/{env}/"), "Canary").values():
            service = canary["spec"]["service"]
            for ref in service["gatewayRefs"]:
                if ref["kind"] != "Gateway":
                    continue
                # the bare Service name is for same-namespace mesh clients (no listener serves a dotless host)
                for host in (h for h in service["hosts"] if h != canary["metadata"]["name"]):
                    key = (ref["namespace"], ref["name"], host)
                    assert key not in claimed, (key, claimed[key], env)
                    claimed[key] = env
    assert claimed[("gateway-system", "public", "checkout.staging.acme.example")] == "staging"


# 6. The loadtester keeps a gate open until it is closed (pkg/loadtester/gate.go), so an approval would hold
#    for every later release.

def loadtester_hooks(canary: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [hook for hook in hooks(canary) if hook[2].startswith(LOADTESTER)]


def approval_hooks(tmp_path: Path, approval: dict[str, Any]) -> list[tuple[str, str, str]]:
    canary = render_docs(tmp_path, with_spec(gates={"manualApproval": approval}))["canary.yaml"][0]
    return loadtester_hooks(canary)


def test_the_approval_gate_closes_after_every_rollout(rendered: RenderResult) -> None:
    assert loadtester_hooks(canary_of(rendered, "production", "billing-worker"))[-2:] == [
        ("approve-promotion", "confirm-promotion", LOADTESTER + "gate/check"),
        ("close-gate", "post-rollout", LOADTESTER + "gate/close")]
    assert "close-gate" not in {h[0] for h in hooks(canary_of(rendered, "staging", "billing-worker"))}


def test_both_approvals_need_their_own_opening(tmp_path: Path) -> None:
    assert approval_hooks(tmp_path / "both", {"beforeRollout": True, "beforePromotion": True}) == [
        ("approve-rollout", "confirm-rollout", LOADTESTER + "gate/check"),
        ("close-gate-for-promotion", "pre-rollout", LOADTESTER + "gate/close"),
        ("approve-promotion", "confirm-promotion", LOADTESTER + "gate/check"),
        ("close-gate", "post-rollout", LOADTESTER + "gate/close")]
    assert approval_hooks(tmp_path / "rollout", {"beforeRollout": True}) == [
        ("approve-rollout", "confirm-rollout", LOADTESTER + "gate/check"),
        ("close-gate", "post-rollout", LOADTESTER + "gate/close")]
    assert approval_hooks(tmp_path / "open", {"beforeRollout": True, "beforePromotion": True,
                                              "closeAfterRollout": False}) == [
        ("approve-rollout", "confirm-rollout", LOADTESTER + "gate/check"),
        ("approve-promotion", "confirm-promotion", LOADTESTER + "gate/check")]


# 7. hey's -q is the rate of each worker (a float64, rakyll/hey hey.go): the total is -q x -c.

def test_the_load_test_sends_the_requested_total_rate(rendered: RenderResult) -> None:
    (frontend,) = [w for w in canary_of(rendered, "production", "frontend")["spec"]["analysis"]["webhooks"]
                   if w["name"] == "load-test"]
    assert frontend["metadata"]["cmd"] == "hey -z 1m -q 7.5 -c 2 http://frontend-canary.shop:3000/"


@pytest.mark.parametrize("rps", [1, 2, 5, 15, 20, 39, 1000])
@pytest.mark.parametrize("concurrency", [1, 2, 3, 4, 6, 7, 50_000])
def test_per_worker_rate_times_workers_is_the_rate(rps: int, concurrency: int) -> None:
    rate = per_worker_rate(rps, concurrency)
    assert float(rate) > 0  # hey reads 0 as no limit at all
    assert abs(Fraction(rate) * concurrency - rps) <= Fraction(rps, 10**5)


# 8. identities: ["*"] admits every meshed client, the load tester and Flagger included: no second policy.

def test_one_policy_admits_the_meshed_clients(rendered: RenderResult) -> None:
    for env in ("staging", "production"):
        for service in ("billing-worker", "checkout", "frontend"):
            policy = docs_of(rendered, f"flux/apps/{env}/{service}/policy.yaml")
            assert {name: d["spec"] for name, d in kinds(policy, "MeshTLSAuthentication").items()} == {
                f"{service}-meshed-clients": {"identities": ["*"]}}
            assert set(kinds(policy, "AuthorizationPolicy")) == {f"{service}-meshed-clients"}


# 9. Alert webhooks live in Secrets that nothing in the tree creates: the render says which, where.

def test_the_secrets_to_create_are_listed_per_namespace(root: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(root / "services", project / "services")
    shutil.copy(root / "rollouts.project.yaml", project)
    run = subprocess.run([str(Path(sys.executable).parent / "rollouts"), "render"], cwd=project,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    listed = run.stderr.split("(the tree never holds them):\n", 1)[1]
    assert listed.splitlines() == [
        "  billing/slack-webhook (key address) for AlertProvider/billing-worker-payments-slack",
        "  billing-staging/slack-webhook (key address) for AlertProvider/billing-worker-payments-slack",
        "  flagger-system/analysis-controller-signing-key (key key, password) for StatefulSet/analysis-controller",
        "  shop/slack-webhook (key address) for AlertProvider/checkout-payments-slack",
        "  shop/teams-webhook (key address) for AlertProvider/frontend-storefront-teams",
        "  shop-staging/slack-webhook (key address) for AlertProvider/checkout-payments-slack",
        "  shop-staging/teams-webhook (key address) for AlertProvider/frontend-storefront-teams",
    ]
    assert user_secrets({"flux/apps/x/y/alerts.yaml": "kind: AlertProvider\nmetadata: {name: a, namespace: n}\n"
                                                     "spec: {type: slack, secretRef: {name: s}}\n"}) == [
        UserSecret("n", "s", ("address",), "AlertProvider/a")]
    assert "slack-webhook" in (root / "docs" / "spec.md").read_text()


# 10. linkerd-init needs NET_ADMIN and NET_RAW, which the baseline and restricted Pod Security Standards refuse.

def test_meshed_namespaces_admit_linkerd_init(rendered: RenderResult) -> None:
    namespaces = [d for d in docs_of(rendered, "flux/apps/") if d["kind"] == "Namespace"]
    assert namespaces
    for ns in namespaces:
        assert ns["metadata"]["annotations"] == {"linkerd.io/inject": "enabled"}
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert "pod-security.kubernetes.io/enforce" in render_text([namespace_doc("x", "production")])


# The develop pack's podinfo chart labels its pods app.kubernetes.io/name only, a label Flagger renames to
# <name>-primary on the primary pods: the policy and the PDB must match both values.

def test_a_flagger_selector_label_matches_primary_and_canary_pods() -> None:
    resolved = resolve(Spec("services/web/rollouts.yaml", "", copy.deepcopy(SPEC)),  # type: ignore[arg-type]
                       "production")
    files, _, _ = service_documents(resolved, selector_label="app.kubernetes.io/name")
    server = yaml.safe_load(render_text(files["policy.yaml"][:1]))
    pdb = [d for d in yaml.safe_load_all(render_text(files["autoscaling.yaml"])) if d["kind"] == "PodDisruptionBudget"]
    expected = {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In",
                                      "values": ["web", "web-primary"]}]}
    assert server["spec"]["podSelector"] == expected
    assert pdb[0]["spec"]["selector"] == expected


def test_public_hosts_leave_room_for_the_in_cluster_names(tmp_path: Path) -> None:
    """An HTTPRoute holds at most 16 hostnames (Gateway API CRD): 12 public ones and the Service's 4 names."""
    hosts = ", ".join(f"h{i}.example" for i in range(13))
    text = BODY.replace("hosts: [web.example]", f"hosts: [{hosts}]") + "    meshedGateway: true\n"
    assert lint_text(tmp_path, text) == [("schema-value", "spec.ingress.hosts: has more than 12 items")]
    ingress = {"hosts": [f"h{i}.example" for i in range(12)], "gateway": {"name": "gw", "namespace": "gw"},
               "meshedGateway": True}
    canary = render_docs(tmp_path / "twelve", with_spec(ingress=ingress))["canary.yaml"][0]
    assert len(canary["spec"]["service"]["hosts"]) == 16
