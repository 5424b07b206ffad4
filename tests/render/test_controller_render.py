"""What the render writes for the analysis controller: each environment's config (a ConfigMap in flagger-system,
from every spec, no secret values, the same bytes however it is rendered) and the controller's layer after
Flagger (a StatefulSet admitting only Flagger to its webhooks)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from rollouts.project import load_project
from rollouts.render import RenderCache, RenderOptions, RenderResult, render, write_tree
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

LAYER = "flux/infrastructure/progressive-delivery/analysis-controller/"
CHECKOUT = "services/checkout/rollouts.yaml"
# every section the controller reads, on the example checkout service (its body ends with environments:)
EXTRA = """\
  judge:
    window: 5m
    metrics:
      - {name: errors, query: 'sum(rate(response_total{deployment="{{ deployment }}"}[1m]))', direction: increase,
         critical: true}
  notifications:
    - {name: chatops, url: 'https://chat.example/hook', secretRef: {name: chatops-hmac, key: key}}
"""
PROBE_STEP = ("          - {name: cart, method: POST, path: /api/v1/cart, body: '{\"sku\":\"A-1\"}', "
              "expectStatus: 201, latencyBudget: 300ms}\n")
PROBE_STEP_WITH_SECRETS = (
    "          - {name: cart, method: POST, path: /api/v1/cart, body: '{\"sku\":\"A-1\"}', expectStatus: 201, "
    "latencyBudget: 300ms,\n             headersFromSecrets: {Authorization: {name: probe-creds, key: token}},\n"
    "             capture: {cartId: '\"id\":\"([^\"]+)\"'}}\n")
POLICY = "    allowedRegistries: [ghcr.io/acme]\n"
POLICY_MORE = POLICY + ("    freezes:\n      - {start: '2026-12-20T00:00:00Z', end: '2027-01-04T00:00:00Z', "
                        "reason: year-end freeze}\n    approval: {required: true}\n")


class YAMLSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "yaml"


def docs(result: RenderResult, path: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(result.files[path]) if d]


def config(result: RenderResult, env: str) -> dict[str, Any]:
    (cm,) = docs(result, f"flux/apps/{env}/analysis-controller/config.yaml")
    assert (cm["kind"], cm["metadata"]["namespace"], cm["metadata"]["name"]) == (
        "ConfigMap", "flagger-system", f"analysis-controller-{env}")
    loaded: dict[str, Any] = json.loads(cm["data"]["config.json"])
    return loaded


def with_every_section(repo: Path) -> Path:
    spec = repo / CHECKOUT
    text = spec.read_text()
    assert PROBE_STEP in text and POLICY in text and "  environments:\n" in text
    text = text.replace(PROBE_STEP, PROBE_STEP_WITH_SECRETS).replace(POLICY, POLICY_MORE)
    spec.write_text(text.replace("  environments:\n", EXTRA + "  environments:\n", 1))
    return repo


def test_each_environment_gets_a_config_of_its_services_keyed_by_canary(example_repo: Path) -> None:
    repo = with_every_section(example_repo)
    result = render(load_project(str(repo)))
    assert result.ok, result.findings
    for env, namespace in (("production", "shop"), ("staging", "shop-staging")):
        got = config(result, env)
        assert (got["apiVersion"], got["kind"], got["environment"]) == (
            "rollouts.dev/v1alpha1", "AnalysisControllerConfig", env)
        assert got["prometheus"] == {"address": "http://prometheus.linkerd-viz:9090", "timeout": "5s"}
        canaries = {f"{c['metadata']['namespace']}/{c['metadata']['name']}"
                    for p in result.files if p.startswith(f"flux/apps/{env}/") and p.endswith("/canary.yaml")
                    for c in docs(result, p)}
        assert set(got["services"]) == canaries  # exactly the Canaries Flagger will name
        checkout = got["services"][f"{namespace}/checkout"]
        assert checkout["specDigest"] == "sha256:" + hashlib.sha256((repo / CHECKOUT).read_bytes()).hexdigest()
        assert checkout["targets"] == {"canary": "checkout", "primary": "checkout-primary", "namespace": namespace,
                                       "canaryURL": f"http://checkout-canary.{namespace}:8080",
                                       "primaryURL": f"http://checkout-primary.{namespace}:8080"}
    prod = config(result, "production")["services"]["shop/checkout"]
    assert prod["freezes"] == [{"start": "2026-12-20T00:00:00Z", "end": "2027-01-04T00:00:00Z",
                                "reason": "year-end freeze"}]
    assert prod["approval"] == {"required": True}
    assert prod["changeWindows"] == [{"days": ["Mon", "Tue", "Wed", "Thu"], "start": "09:00", "end": "16:00",
                                      "timeZone": "Europe/Berlin"}]
    assert prod["errorBudget"] == {"objective": 99.9, "window": "30d", "minRemaining": 10}
    assert prod["slo"]["latencyP95"] is None and prod["mtls"] == {"minShare": 1.0}
    assert prod["judge"] == {"window": "5m", "minRequests": 50, "pass": 80, "marginal": 60, "noData": "hold",
                             "metrics": [{"name": "errors", "query": 'sum(rate(response_total{deployment='
                                          '"{{ deployment }}"}[1m]))', "group": "default", "weight": 1,
                                          "direction": "increase", "critical": True, "allowedChange": 0.1}]}
    cart = prod["probes"]["flows"][0]["steps"][0]
    assert cart["headersFromSecrets"] == {"Authorization": {"secret": "probe-creds", "key": "token"}}
    assert cart["capture"] == {"cartId": '"id":"([^"]+)"'} and cart["headers"] == {}
    assert prod["notifications"] == [{"name": "chatops", "url": "https://chat.example/hook",
                                      "events": ["promote", "abort", "hold"],
                                      "secret": {"secret": "chatops-hmac", "key": "key"}}]
    # a service without a section has no entry for it: that check is not run
    assert "judge" not in config(result, "production")["services"]["shop/frontend"]


def test_the_config_holds_no_secret_value_and_is_canonical_json(example_repo: Path) -> None:
    repo = with_every_section(example_repo)
    result = render(load_project(str(repo)))
    text = yaml.safe_load(result.files["flux/apps/production/analysis-controller/config.yaml"])["data"]["config.json"]
    parsed = json.loads(text)
    assert text == json.dumps(parsed, sort_keys=True, ensure_ascii=False)  # sorted keys: same input, same bytes
    for secret in ("slack-webhook",):  # an AlertProvider's Secret is Flagger's, not the controller's
        assert secret not in text
    assert render(load_project(str(repo))).files == result.files


def test_a_cached_and_a_partial_render_give_the_full_renders_config(example_repo: Path) -> None:
    repo = with_every_section(example_repo)
    project = load_project(str(repo))
    cache = RenderCache(project, RenderOptions(), project.environments)
    full = render(project, options=RenderOptions(), cache=cache)
    write_tree(project, full)
    cache.save()
    warm = render(project, options=RenderOptions(),
                  cache=RenderCache(project, RenderOptions(), project.environments))
    assert any(p.endswith("/checkout/canary.yaml") for p in warm.from_tree)  # the specs came from the cache
    assert {p: t for p, t in warm.files.items() if "analysis-controller" in p} == {
        p: t for p, t in full.files.items() if "analysis-controller" in p}
    # a partial render of one service rewrites its entry only: the others stay as the tree has them
    (repo / "services/frontend/rollouts.yaml").write_text(
        (repo / "services/frontend/rollouts.yaml").read_text() + "# edited, not rendered\n")
    part = render(load_project(str(repo)), services=["checkout"], environments=["production"])
    write_tree(load_project(str(repo)), part)
    written = json.loads(yaml.safe_load((repo / "flux/apps/production/analysis-controller/config.yaml").read_text())
                         ["data"]["config.json"])
    assert written == config(full, "production")  # checkout unchanged, frontend's old digest kept
    sts = repo / LAYER / "statefulset.yaml"
    assert sts.read_text() == full.files[LAYER + "statefulset.yaml"]  # still mounting every referenced Secret


def test_the_statefulset_mounts_each_secret_a_config_references(example_repo: Path, rendered: RenderResult) -> None:
    result = render(load_project(str(with_every_section(example_repo))))
    assert result.ok, result.findings
    pod = docs(result, LAYER + "statefulset.yaml")[0]["spec"]["template"]["spec"]
    secrets = {v["secret"]["secretName"]: v for v in pod["volumes"] if "secret" in v}
    assert sorted(secrets) == ["analysis-controller-signing-key", "chatops-hmac", "probe-creds"]
    for name in ("chatops-hmac", "probe-creds"):  # optional: a missing one fails only the checks that read it
        assert (secrets[name]["secret"]["optional"], secrets[name]["secret"]["defaultMode"]) == (True, 0o440)
        (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == secrets[name]["name"]]
        assert (mount["mountPath"], mount["readOnly"]) == (f"/etc/rollouts/secrets/{name}", True)
    from rollouts.render.model import UserSecret, user_secrets

    listed = [s for s in user_secrets(result.files) if s.namespace == "flagger-system"]
    assert listed == [UserSecret("flagger-system", "analysis-controller-signing-key", ("key", "password"),
                                 "StatefulSet/analysis-controller"),
                      UserSecret("flagger-system", "chatops-hmac", ("key",), "StatefulSet/analysis-controller"),
                      UserSecret("flagger-system", "probe-creds", ("token",), "StatefulSet/analysis-controller")]
    plain = docs(rendered, LAYER + "statefulset.yaml")[0]["spec"]["template"]["spec"]["volumes"]
    assert [v["secret"]["secretName"] for v in plain if "secret" in v] == ["analysis-controller-signing-key"]


def test_a_full_render_reads_no_spec_again_for_the_derived_files(example_repo: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: the controller config read and resolved every spec a second time (a third of a 500-service render):
    its entries are now made where each spec is rendered, and kept in the render cache."""
    from rollouts.render import derived

    repo = with_every_section(example_repo)
    expected = render(load_project(str(repo)))

    def must_not_run(*args: Any) -> Any:
        raise AssertionError("the derived files read the specs again")

    monkeypatch.setattr(derived, "resolved_specs", must_not_run)
    project = load_project(str(repo))
    cache = RenderCache(project, RenderOptions(), project.environments)
    first = render(project, options=RenderOptions(), cache=cache)
    write_tree(project, first)
    cache.save()
    warm = render(project, options=RenderOptions(), cache=RenderCache(project, RenderOptions(), project.environments))
    assert first.files == expected.files and warm.files == expected.files


def test_the_layer_comes_after_flagger_and_admits_only_flaggers_account(rendered: RenderResult) -> None:
    chain = {d["metadata"]["name"]: d for d in docs(rendered, "flux/bootstrap/rollouts/infrastructure.yaml")}
    assert chain["analysis-controller"]["spec"]["dependsOn"] == [{"name": "flagger"}]
    assert chain["analysis-controller"]["spec"]["path"] == f"./{LAYER}".rstrip("/")
    flagger = next(d for d in docs(rendered, "flux/infrastructure/progressive-delivery/flagger/releases.yaml")
                   if d["metadata"]["name"] == "flagger")
    assert "serviceAccount" not in flagger["spec"]["values"]  # the chart's default: ServiceAccount flagger
    policy = {(d["kind"], d["metadata"]["name"]): d for d in docs(rendered, LAYER + "policy.yaml")}
    webhooks = policy[("Server", "analysis-controller-webhooks")]["spec"]
    assert (webhooks["port"], webhooks["accessPolicy"]) == ("webhooks", "deny")
    assert policy[("MeshTLSAuthentication", "analysis-controller-flagger")]["spec"]["identityRefs"] == [
        {"kind": "ServiceAccount", "name": "flagger", "namespace": "flagger-system"}]
    allow = policy[("AuthorizationPolicy", "analysis-controller-webhooks-from-flagger")]["spec"]
    assert allow["targetRef"]["name"] == "analysis-controller-webhooks"
    assert allow["requiredAuthenticationRefs"][0]["name"] == "analysis-controller-flagger"
    operator = policy[("AuthorizationPolicy", "analysis-controller-operator-from-operators")]["spec"]
    assert operator["targetRef"]["name"] == "analysis-controller-operator"
    metrics = policy[("Server", "analysis-controller-metrics")]["spec"]
    assert (metrics["port"], metrics["accessPolicy"]) == ("metrics", "cluster-unauthenticated")
    service = docs(rendered, LAYER + "service.yaml")[0]["spec"]["ports"]
    assert [(p["port"], p["targetPort"]) for p in service] == [(8080, "webhooks"), (8081, "operator"),
                                                                  (9102, "metrics")]
    (delegator,) = [d for d in docs(rendered, LAYER + "rbac.yaml") if d["kind"] == "ClusterRoleBinding"]
    assert delegator["roleRef"]["name"] == "system:auth-delegator"  # TokenReview + SubjectAccessReview
    assert delegator["subjects"] == [{"kind": "ServiceAccount", "name": "analysis-controller",
                                      "namespace": "flagger-system"}]


def test_the_controller_runs_hardened_and_mounts_each_environments_config(rendered: RenderResult) -> None:
    sts, pdb = docs(rendered, LAYER + "statefulset.yaml")
    assert (sts["kind"], sts["spec"]["replicas"], pdb["kind"], pdb["spec"]["maxUnavailable"]) == (
        "StatefulSet", 2, "PodDisruptionBudget", 1)
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["controller", "serve", "--config", "/etc/rollouts/controller",
                                 "--listen", "0.0.0.0:8080", "--operator-listen", "0.0.0.0:8081",
                                 "--metrics-listen", "0.0.0.0:9102", "--evidence", "/var/lib/rollouts/evidence",
                                 "--outbox", "/var/lib/rollouts/outbox", "--secrets", "/etc/rollouts/secrets"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    configs = {v["configMap"]["name"]: v["configMap"]["optional"] for v in pod["volumes"] if "configMap" in v}
    assert configs == {"analysis-controller-staging": True, "analysis-controller-production": True}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/etc/rollouts/controller/staging", "/etc/rollouts/controller/production"} <= mounts
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"  # evidence survives a restart
    role = next(d for d in docs(rendered, LAYER + "rbac.yaml") if d["kind"] == "Role")
    named = next(r for r in role["rules"] if "resourceNames" in r)
    assert named["resourceNames"] == ["analysis-controller-state-staging", "analysis-controller-state-production"]


def test_the_project_pins_the_image_and_a_tag_is_warned_about(example_repo: Path) -> None:
    digest = "ghcr.io/acme/analysis-controller@sha256:" + "a" * 64
    (example_repo / "rollouts.project.yaml").write_text(
        "render: {repository: 'https://git.example/ops.git'}\n"
        f"controller: {{image: '{digest}', baseImage: 'docker.io/library/python:3.11'}}\n")
    project = load_project(str(example_repo))
    assert [(f.rule, f.location, f.severity.value) for f in project.findings] == [
        ("project-config", "rollouts.project.yaml:2:140", "warning")]
    assert "controller.baseImage 'docker.io/library/python:3.11' is not pinned by digest" in project.findings[0].message
    result = render(project)
    sts = docs(result, LAYER + "statefulset.yaml")[0]
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == digest


def test_the_layer_snapshot(rendered: RenderResult, snapshot: SnapshotAssertion) -> None:
    text = "".join(f"# ==> {p}\n{t}" for p, t in rendered.files.items() if p.startswith(LAYER))
    assert text == snapshot.use_extension(YAMLSnapshot)


@pytest.mark.parametrize("env", ["staging", "production"])
def test_the_config_kustomization_keeps_the_configmap_in_flagger_system(rendered: RenderResult, env: str) -> None:
    ks = {d["metadata"]["name"]: d for d in docs(rendered, f"flux/bootstrap/rollouts/apps-{env}.yaml")}
    spec = ks[f"analysis-controller-{env}"]["spec"]
    assert spec["path"] == f"./flux/apps/{env}/analysis-controller" and "targetNamespace" not in spec
    assert spec["dependsOn"] == [{"name": "flagger"}]
    assert docs(rendered, f"flux/apps/{env}/analysis-controller/kustomization.yaml")[0]["resources"] == [
        "config.yaml", "dashboard.yaml"]  # dashboard.yaml: the environment's overview dashboard
    (overview,) = docs(rendered, f"flux/apps/{env}/analysis-controller/dashboard.yaml")
    assert overview["metadata"]["namespace"] == "flagger-system"
    assert overview["metadata"]["labels"]["grafana_dashboard"] == "1"


# -- wiring: the Canaries call the controller for exactly the guardrails their spec sets ---------------------------

CONTROLLER_URL = "http://analysis-controller.flagger-system:8080/webhooks/"


def controller_hooks_of(result: RenderResult, env: str, service: str) -> dict[str, dict[str, Any]]:
    (canary,) = docs(result, f"flux/apps/{env}/{service}/canary.yaml")
    hooks = [w for w in canary["spec"]["analysis"]["webhooks"] if w["url"].startswith(CONTROLLER_URL)]
    assert len({w["type"] for w in hooks}) == len(hooks), "one controller hook per type"
    return {w["type"]: w for w in hooks}


def test_every_canary_calls_the_controller_for_the_operator_guardrails_and_its_own(rendered: RenderResult) -> None:
    operator = {"confirm-rollout", "pre-rollout", "confirm-promotion", "rollback", "post-rollout"}
    for env in ("production", "staging"):
        # checkout: a canary with probes; frontend: A/B with probes; billing-worker: blue/green without probes
        assert set(controller_hooks_of(rendered, env, "checkout")) == operator | {"rollout",
                                                                                  "confirm-traffic-increase"}
        assert set(controller_hooks_of(rendered, env, "frontend")) == operator | {"rollout"}
        assert set(controller_hooks_of(rendered, env, "billing-worker")) == operator  # no probes: no probe call
    for kind, hook in controller_hooks_of(rendered, "production", "checkout").items():
        assert hook["url"] == CONTROLLER_URL + kind and "metadata" not in hook


def test_the_probe_hooks_timeout_covers_the_longest_flow_and_the_config_carries_every_timeout(
        example_repo: Path) -> None:
    spec = example_repo / CHECKOUT
    text = spec.read_text()
    slow = "          - {name: slow, method: GET, path: /api/v1/slow, expectStatus: 200, latencyBudget: 4s}\n"
    spec.write_text(text.replace(PROBE_STEP, PROBE_STEP + slow))
    result = render(load_project(str(example_repo)))
    assert result.ok, result.findings
    hooks = controller_hooks_of(result, "production", "checkout")
    # cart 300ms + pay 1s (the default) + slow 4s, each plus the probes' 0.25s slack, plus 2s: 8.05 -> 9s
    assert hooks["rollout"]["timeout"] == "9s"
    rendered_timeouts = {kind: int(hook["timeout"].removesuffix("s")) for kind, hook in hooks.items()}
    assert config(result, "production")["services"]["shop/checkout"]["timeouts"] == rendered_timeouts


def test_the_controller_answers_within_each_webhooks_timeout() -> None:
    from rollouts.controller.app import Settings

    settings = Settings(config=None, time_budget=8.0)
    service = {"timeouts": {"rollout": 9, "rollback": 2}}
    assert settings.budget("rollout", service) == pytest.approx(7.2)
    assert settings.budget("rollback", service) == pytest.approx(1.6)
    assert settings.budget("confirm-rollout", service) == 8.0  # no timeout known: the setting
    assert settings.budget("rollback") == 8.0


def test_each_apps_kustomization_waits_for_the_controller_and_its_config(rendered: RenderResult) -> None:
    for env in ("production", "staging"):
        for k in docs(rendered, f"flux/bootstrap/rollouts/apps-{env}.yaml"):
            if k["metadata"]["name"].startswith(f"apps-{env}-"):
                names = [d["name"] for d in k["spec"]["dependsOn"]]
                assert {"analysis-controller", f"analysis-controller-{env}"} <= set(names), k["metadata"]["name"]
