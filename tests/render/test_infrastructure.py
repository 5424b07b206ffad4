"""What `rollouts render` emits for the cluster side: the bootstrap layer, the infrastructure chain, the per-service
Flux Kustomizations, the develop pack. Each fact is checked against the upstream source it comes from."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml
from rendered_docs import docs_of, one
from rollouts.project import Project, load_project
from rollouts.render import RenderOptions, RenderResult, options_from_project, render

LAYER = "flux/bootstrap/rollouts"
PD = "flux/infrastructure/progressive-delivery"


@pytest.fixture(scope="module")
def with_develop(root: Path) -> RenderResult:
    result = render(load_project(str(root)), options=RenderOptions(develop=True))
    assert result.ok, result.findings
    return result


def flux_kustomizations(result: RenderResult) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs_of(result, f"{LAYER}/")
            if d["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"}


# --- the GitOps source ----------------------------------------------------------------------------------------------

def test_the_repository_has_its_credentials_secret(rendered: RenderResult) -> None:
    """source-controller clones an ssh:// URL only with a Secret holding 'identity' (GitRepository spec.secretRef)."""
    repo = one(docs_of(rendered, f"{LAYER}/repository.yaml"), "GitRepository", "rollouts")
    assert repo["spec"]["url"].startswith("ssh://")
    assert repo["spec"]["secretRef"] == {"name": "flux-system"}  # rollouts.project.yaml render.secretRef
    assert repo["spec"]["verify"] == {"mode": "HEAD", "secretRef": {"name": "rollouts-commit-signers"}}


def test_an_https_repository_may_go_without_credentials(tmp_path: Path) -> None:
    (tmp_path / "rollouts.project.yaml").write_text("render: {repository: 'https://git.example/ops.git'}\n")
    project = load_project(str(tmp_path))
    assert project.findings == []
    assert options_from_project(project).secret_ref is None
    result = render(project, specs=[])
    repo = one(docs_of(result, f"{LAYER}/repository.yaml"), "GitRepository", "rollouts")
    assert "secretRef" not in repo["spec"] and repo["spec"]["url"] == "https://git.example/ops.git"


def test_render_options_come_from_the_project_file(example_repo: Path) -> None:
    (example_repo / "rollouts.project.yaml").write_text(
        "environments: [staging, production]\n"
        "render: {repository: 'ssh://git@git.example/ops.git', secretRef: ops-key, branch: live, develop: true,\n"
        "         verifySecret: keys}\n")
    options = options_from_project(load_project(str(example_repo)))
    assert options == RenderOptions(repo_url="ssh://git@git.example/ops.git", secret_ref="ops-key", branch="live",
                                    develop=True, verify_secret="keys", environments=("staging", "production"))
    result = render(load_project(str(example_repo)))
    repo = one(docs_of(result, f"{LAYER}/repository.yaml"), "GitRepository", "rollouts")
    assert repo["spec"]["url"] == "ssh://git@git.example/ops.git" and repo["spec"]["ref"] == {"branch": "live"}
    assert repo["spec"]["secretRef"] == {"name": "ops-key"}
    assert repo["spec"]["verify"]["secretRef"] == {"name": "keys"}


# --- the bootstrap layer --------------------------------------------------------------------------------------------

def test_flux_bootstraps_own_folder_holds_only_its_kustomization(rendered: RenderResult) -> None:
    """`flux bootstrap --path flux/bootstrap` writes gotk-components.yaml and gotk-sync.yaml into
    flux/bootstrap/flux-system/ and keeps a kustomization.yaml that exists there (flux2
    pkg/manifestgen/kustomization.Generate): render owns only that file, listing bootstrap's two."""
    folder = [p for p in rendered.files if p.startswith("flux/bootstrap/flux-system/")]
    assert folder == ["flux/bootstrap/flux-system/kustomization.yaml"]
    index = yaml.safe_load(rendered.files[folder[0]])
    assert index["resources"] == ["gotk-components.yaml", "gotk-sync.yaml"]
    assert yaml.safe_load(rendered.files["flux/bootstrap/kustomization.yaml"])["resources"] == [
        "flux-system", "rollouts"]
    assert sorted(p for p in rendered.files if p.startswith(f"{LAYER}/")) == [
        f"{LAYER}/apps-production.yaml", f"{LAYER}/apps-staging.yaml", f"{LAYER}/infrastructure.yaml",
        f"{LAYER}/kustomization.yaml", f"{LAYER}/repository.yaml"]


def test_the_bootstrap_gitrepository_verifies_commits_too(rendered: RenderResult, root: Path) -> None:
    """The flux-system GitRepository (bootstrap's gotk-sync.yaml) applies flux/bootstrap: without spec.verify an
    unsigned push could rewrite repository.yaml and drop the verification."""
    index = yaml.safe_load(rendered.files["flux/bootstrap/flux-system/kustomization.yaml"])
    [patch] = index["patches"]
    assert patch["target"] == {"group": "source.toolkit.fluxcd.io", "kind": "GitRepository", "name": "flux-system"}
    assert yaml.safe_load(patch["patch"]) == [{"op": "add", "path": "/spec/verify", "value": {
        "mode": "HEAD", "secretRef": {"name": "rollouts-commit-signers"}}}]
    unverified = render(load_project(str(root)), options=RenderOptions(verify_secret=None))
    assert "patches" not in yaml.safe_load(unverified.files["flux/bootstrap/flux-system/kustomization.yaml"])
    assert "verify" not in one(docs_of(unverified, f"{LAYER}/repository.yaml"), "GitRepository", "rollouts")["spec"]


def test_no_aggregate_mixes_crds_and_their_resources(rendered: RenderResult) -> None:
    """One build of everything would apply the HelmReleases that install CRDs together with their custom
    resources (Certificates, Bundles, Canaries): only the directories Flux applies have a kustomization.yaml."""
    indexes = {p.rsplit("/", 1)[0] for p in rendered.files if p.endswith("/kustomization.yaml")}
    applied = {d["spec"]["path"][2:] for d in flux_kustomizations(rendered).values()
               if d["spec"]["sourceRef"]["name"] == "rollouts"}
    assert indexes == applied | {"flux/bootstrap", "flux/bootstrap/flux-system", LAYER}
    for gone in ("flux", "flux/apps", "flux/apps/production", "flux/infrastructure", PD):
        assert gone not in indexes


# --- the infrastructure chain ---------------------------------------------------------------------------------------

def test_infrastructure_is_ordered_and_pinned(rendered: RenderResult) -> None:
    chain = {d["metadata"]["name"]: d for d in docs_of(rendered, f"{LAYER}/infrastructure.yaml")}
    assert list(chain) == ["gateway-api-crds", "prometheus-operator-crds", "cert-manager", "linkerd", "linkerd-viz",
                           "flagger", "analysis-controller"]
    for before, after in itertools.pairwise(chain):
        assert chain[after]["spec"]["dependsOn"] == [{"name": before}]
    flagger = one(docs_of(rendered, f"{PD}/flagger/"), "HelmRelease", "flagger")["spec"]["values"]
    assert flagger["meshProvider"] == "gatewayapi:v1beta1"
    assert flagger["metricsServer"] == "http://prometheus.linkerd-viz:9090"
    assert flagger["linkerdAuthPolicy"]["create"] is True
    assert one(docs_of(rendered, f"{PD}/flagger/"), "OCIRepository", "flagger")["spec"]["ref"] == {"tag": "1.44.0"}
    linkerd = docs_of(rendered, f"{PD}/linkerd/")
    control = one(linkerd, "HelmRelease", "linkerd-control-plane")["spec"]
    assert control["values"]["identity"]["externalCA"] is True
    assert control["chart"]["spec"]["version"] == "2026.6.3"


def test_the_loadtester_chart_comes_from_flaggers_helm_repository(rendered: RenderResult) -> None:
    """Flagger's release workflow (v1.44.0 .github/workflows/release.yml) pushes only charts/flagger to
    oci://ghcr.io/fluxcd/charts; loadtester 0.38.0 (charts/loadtester/Chart.yaml) is in https://flagger.app's
    index (gh-pages index.yaml)."""
    docs = docs_of(rendered, f"{PD}/flagger/")
    assert [d["spec"]["url"] for d in docs if d["kind"] == "OCIRepository"] == ["oci://ghcr.io/fluxcd/charts/flagger"]
    assert one(docs, "HelmRepository", "flagger-charts")["spec"]["url"] == "https://flagger.app"
    chart = one(docs, "HelmRelease", "flagger-loadtester")["spec"]["chart"]["spec"]
    assert chart == {"chart": "loadtester", "version": "0.38.0",
                     "sourceRef": {"kind": "HelmRepository", "name": "flagger-charts", "namespace": "flagger-system"}}


def test_the_trust_bundle_keeps_the_previous_anchor(rendered: RenderResult) -> None:
    """cert-manager renews the anchor (rotationPolicy: Always); Linkerd's documented setup keeps the previous
    anchor as a second Bundle source while control plane and proxies restart."""
    linkerd = docs_of(rendered, f"{PD}/linkerd/")
    anchor = one(linkerd, "Certificate", "linkerd-trust-anchor")["spec"]
    assert anchor["privateKey"]["rotationPolicy"] == "Always"
    bundle = one(linkerd, "Bundle", "linkerd-identity-trust-roots")["spec"]
    assert bundle["sources"] == [
        {"secret": {"name": "linkerd-trust-anchor", "key": "tls.crt"}},
        {"secret": {"selector": {"matchLabels": {"rollouts.dev/linkerd-trust-anchor": "previous"}},
                    "key": "tls.crt"}}]
    assert bundle["target"]["configMap"]["key"] == "ca-bundle.crt"


def test_viz_gets_only_values_its_chart_has(rendered: RenderResult) -> None:
    """linkerd2 edge-26.6.3 viz/charts/linkerd-viz/values.yaml has no installNamespace (the namespace template
    renders only for the CLI)."""
    viz = one(docs_of(rendered, f"{PD}/linkerd/viz/"), "HelmRelease", "linkerd-viz")["spec"]
    assert "installNamespace" not in viz.get("values", {})


def test_meshed_infrastructure_namespaces_allow_linkerd_init(with_develop: RenderResult) -> None:
    """linkerd-init needs NET_ADMIN/NET_RAW: Linkerd's namespace templates label meshed namespaces
    pod-security.kubernetes.io/enforce: privileged."""
    namespaces = {d["metadata"]["name"]: d["metadata"] for d in docs_of(with_develop, "flux/infrastructure/")
                  if d["kind"] == "Namespace"}
    meshed = {"linkerd", "linkerd-viz", "flagger-system", "podinfo-develop"}
    assert meshed < set(namespaces)
    for name, meta in namespaces.items():
        privileged = meta["labels"].get("pod-security.kubernetes.io/enforce") == "privileged"
        assert privileged == (name in meshed), name
    assert namespaces["linkerd"]["annotations"] == {"linkerd.io/inject": "disabled"}


# --- one Flux Kustomization per service and environment -------------------------------------------------------------

def test_each_service_has_its_own_flux_kustomization(rendered: RenderResult) -> None:
    kustomizations = flux_kustomizations(rendered)
    assert "apps-production" not in kustomizations and "apps-staging" not in kustomizations
    checkout = kustomizations["apps-production-checkout"]["spec"]
    assert checkout["path"] == "./flux/apps/production/checkout"
    assert checkout["dependsOn"] == [{"name": "flagger"}, {"name": "prometheus-operator-crds"},
                                     {"name": "analysis-controller"}, {"name": "analysis-controller-production"},
                                     {"name": "namespaces-production"}]
    assert checkout["prune"] is True and checkout["wait"] is False
    assert checkout["healthChecks"] == [{"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "name": "checkout",
                                         "namespace": "shop"}]
    [expr] = checkout["healthCheckExprs"]
    assert (expr["apiVersion"], expr["kind"]) == ("flagger.app/v1beta1", "Canary")
    assert expr["failed"] == "status.phase == 'Failed'"
    assert kustomizations["apps-staging-checkout"]["spec"]["healthChecks"][0]["namespace"] == "shop-staging"
    namespaces = kustomizations["namespaces-staging"]["spec"]
    assert namespaces["path"] == "./flux/apps/staging/namespaces" and "dependsOn" not in namespaces
    services = {name for name in kustomizations if name.startswith("apps-")}
    assert len(services) == 8
    for name in services:
        assert rendered.files[kustomizations[name]["spec"]["path"][2:] + "/kustomization.yaml"]


def canary_phase(expr: dict[str, str], phase: str) -> str:
    """What kustomize-controller concludes for a Canary in ``phase``: inProgress, then failed, then current."""
    for verdict in ("inProgress", "failed", "current"):
        listed = expr[verdict].split(" in ", 1)[-1] if " in " in expr[verdict] else None
        if listed is not None and f"'{phase}'" in listed:
            return verdict
        if listed is None and expr[verdict] == f"status.phase == '{phase}'":
            return verdict
    return "unknown"


def test_the_canary_health_check_covers_every_flagger_phase(rendered: RenderResult) -> None:
    """Flagger v1.44.0 pkg/apis/flagger/v1beta1/status.go CanaryPhase values (Terminating/Terminated: deletion)."""
    [expr] = flux_kustomizations(rendered)["apps-production-frontend"]["spec"]["healthCheckExprs"]
    verdicts = {phase: canary_phase(expr, phase) for phase in (
        "Initializing", "Initialized", "Waiting", "Progressing", "WaitingPromotion", "Promoting", "Finalising",
        "Succeeded", "Failed")}
    assert verdicts == {"Initializing": "inProgress", "Initialized": "current", "Waiting": "inProgress",
                        "Progressing": "inProgress", "WaitingPromotion": "inProgress", "Promoting": "inProgress",
                        "Finalising": "inProgress", "Succeeded": "current", "Failed": "failed"}


def test_long_names_are_shortened_to_a_label_value() -> None:
    """kustomize-controller labels every applied object kustomize.toolkit.fluxcd.io/name=<Kustomization>: 63 max."""
    from rollouts.render.infra import apps_kustomizations

    name = "s" * 55
    docs = apps_kustomizations("production", {name: "team"})
    names = [d.context["k"]["name"] for d in docs]
    assert names[0] == "namespaces-production"
    assert len(names[1]) == 63 and names[1].startswith("apps-production-sss")
    assert names[1] != apps_kustomizations("production", {name + "t": "team"})[1].context["k"]["name"]


# --- the develop pack -----------------------------------------------------------------------------------------------

def test_the_develop_pack_is_rendered_only_when_on(rendered: RenderResult, with_develop: RenderResult) -> None:
    assert not [p for p in rendered.files if "/develop/" in p]
    assert "develop" not in flux_kustomizations(rendered)
    develop = flux_kustomizations(with_develop)["develop"]["spec"]
    assert develop["path"] == f"./{PD}/develop" and develop["dependsOn"] == [{"name": "analysis-controller"}]
    assert develop["healthChecks"][0] == {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "name": "podinfo",
                                          "namespace": "podinfo-develop"}


def test_develop_objects_say_develop(with_develop: RenderResult) -> None:
    docs = docs_of(with_develop, f"{PD}/develop/")
    labelled = [d for d in docs if "rollouts.dev/environment" in d.get("metadata", {}).get("labels", {})]
    assert labelled and {d["metadata"]["labels"]["rollouts.dev/environment"] for d in labelled} == {"develop"}


def test_the_develop_pack_selects_podinfos_pods_and_leaves_the_apex_service_to_flagger(
        with_develop: RenderResult) -> None:
    """podinfo 6.9.2 labels its pods only app.kubernetes.io/name: <fullname> (charts/podinfo/templates/_helpers.tpl),
    renamed <name>-primary by Flagger on the primary's pods; its Service podinfo (service.enabled, default true)
    would collide with the apex Service Flagger creates."""
    docs = docs_of(with_develop, f"{PD}/develop/")
    release = one(docs, "HelmRelease", "podinfo")["spec"]["values"]
    assert release["service"] == {"enabled": False} and release["fullnameOverride"] == "podinfo"
    selector = one(docs, "Server", "podinfo")["spec"]["podSelector"]
    assert one(docs, "PodDisruptionBudget", "podinfo")["spec"]["selector"] == selector
    for pod in ({"app.kubernetes.io/name": "podinfo"}, {"app.kubernetes.io/name": "podinfo-primary"}):
        assert selects(selector, pod), (selector, pod)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist) against labels."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        value, op = labels.get(e["key"]), e["operator"]
        ok = {"In": value in e.get("values", []), "NotIn": value not in e.get("values", []),
              "Exists": value is not None, "DoesNotExist": value is None}[op]
        if not ok:
            return False
    return True


def test_the_default_project_needs_no_project_file(tmp_path: Path) -> None:
    """Without rollouts.project.yaml the placeholder ssh:// URL comes with bootstrap's own Secret."""
    result = render(Project(str(tmp_path)), specs=[])
    assert result.ok, result.findings
    repo = one(docs_of(result, f"{LAYER}/repository.yaml"), "GitRepository", "rollouts")
    assert repo["spec"]["secretRef"] == {"name": "flux-system"}


def test_no_object_is_applied_by_two_kustomizations(rendered: RenderResult) -> None:
    """Each object of the tree is in exactly one file: two Flux Kustomizations applying one object take it from each
    other at every reconcile, and each prunes it when it leaves the other (as the overview dashboards once did)."""
    seen: dict[tuple[str, str, str, str], str] = {}
    for path, text in sorted(rendered.files.items()):
        if not path.endswith(".yaml"):
            continue
        for doc in yaml.safe_load_all(text):
            if not doc or str(doc.get("apiVersion", "")).startswith("kustomize.config.k8s.io"):
                continue
            meta = doc["metadata"]
            key = (str(doc["apiVersion"]).split("/")[0], doc["kind"], meta.get("namespace", ""), meta["name"])
            assert key not in seen, f"{key} is in {seen[key]} and in {path}"
            seen[key] = path
