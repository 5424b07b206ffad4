"""The cluster side that every service needs: Gateway API CRDs, cert-manager and trust-manager, Linkerd with a
cert-manager issued identity, linkerd-viz, Flagger with its load tester, in that order; and the opt-in demo pack.

Chart versions are pinned here, in one place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ..project import PLACEHOLDER_REPOSITORY
from .engine import Doc, Expected
from .model import PROMETHEUS, kustomization, namespace_for, service_documents

PINS = {
    "gateway-api": "v1.2.1",  # Linkerd 2.20 supports Gateway API 1.2.1-1.5.1 and recommends 1.2.1
    "cert-manager": "v1.21.1",
    "trust-manager": "v0.26.0",
    "linkerd": "2026.6.3",  # edge-26.6.3 = Linkerd 2.20 (charts linkerd-crds, linkerd-control-plane, linkerd-viz)
    "flagger": "1.44.0",
    "loadtester": "0.38.0",
    "podinfo": "6.9.2",  # the demo workload of the develop pack
}

FLAGGER_IDENTITY = {
    "issuer": r"^https://token\.actions\.githubusercontent\.com$",
    "subject": r"^https://github\.com/fluxcd/flagger/\.github/workflows/release\.yml@refs/tags/v\d+\.\d+\.\d+$",
}

PD = "flux/infrastructure/progressive-delivery"
BOOT = "flux/bootstrap"
LAYER = f"{BOOT}/rollouts"  # our bootstrap objects; flux-system/ is flux bootstrap's folder
FLAGGER_CHARTS = "https://flagger.app"  # Flagger's Helm repository; only charts/flagger is also pushed to OCI

# A Canary has no Ready condition, only a phase (Flagger pkg/apis/flagger/v1beta1/status.go); kustomize-controller
# evaluates inProgress, then failed, then current (docs/spec/v1/kustomizations.md, Health check expressions).
CANARY_HEALTH = {
    "inProgress": "status.phase in ['Initializing', 'Waiting', 'Progressing', 'WaitingPromotion', 'Promoting', "
                  "'Finalising']",
    "failed": "status.phase == 'Failed'",
    "current": "status.phase in ['Initialized', 'Succeeded']",
}
# linkerd-init needs NET_ADMIN/NET_RAW: the namespace template of every Linkerd chart labels meshed namespaces so
# (linkerd2 charts/linkerd-control-plane/templates/namespace.yaml, viz/charts/linkerd-viz/templates/namespace.yaml)
PRIVILEGED = {"pod-security.kubernetes.io/enforce": "privileged"}


@dataclass(frozen=True)
class RenderOptions:
    """Cluster-level choices: the GitOps repository Flux pulls and the Secret with its credentials, whether Flux
    verifies its commits, the demo pack."""

    repo_url: str = PLACEHOLDER_REPOSITORY
    branch: str = "main"
    repo_name: str = "rollouts"
    # the Secret (flux-system) with the repository's git credentials: with the placeholder URL, the deploy key
    # Secret `flux bootstrap` creates (named flux-system, flag --secret-name); `render.secretRef` in
    # rollouts.project.yaml, required there for an ssh:// repository (generator.project)
    secret_ref: str | None = "flux-system"
    # Flux verifies the signature of every commit it applies (GitRepository spec.verify, mode HEAD) against the
    # public key in this Secret; `render: {verifySecret: ""}` in rollouts.project.yaml turns verification off.
    verify_secret: str | None = "rollouts-commit-signers"
    develop: bool = False


def _ns(name: str, labels: dict[str, str], annotations: dict[str, str] | None = None) -> Doc:
    return Doc("infrastructure/namespace.yaml.j2", {"ns": {"name": name, "labels": labels,
                                                          "annotations": annotations or {}}},
               Expected("v1", "Namespace", name, ""))


def _helm_repo(name: str, namespace: str, url: str) -> Doc:
    return Doc("infrastructure/helmrepository.yaml.j2", {"repo": {"name": name, "namespace": namespace, "url": url}},
               Expected("source.toolkit.fluxcd.io/v1", "HelmRepository", name, namespace))


def _oci_repo(name: str, namespace: str, url: str, tag: str, verify: dict[str, str] | None) -> Doc:
    repo = {"name": name, "namespace": namespace, "url": url, "tag": tag, "verify": verify}
    return Doc("infrastructure/ocirepository.yaml.j2", {"repo": repo},
               Expected("source.toolkit.fluxcd.io/v1", "OCIRepository", name, namespace))


def _release(name: str, namespace: str, *, chart: str = "", version: str = "", source: str,
             source_namespace: str = "", oci: bool = False, values: dict[str, Any] | None = None,
             depends_on: tuple[str, ...] = (), target_namespace: str = "") -> Doc:
    release = {"name": name, "namespace": namespace, "chart": chart, "version": version, "source": source,
               "sourceNamespace": source_namespace or namespace, "oci": oci, "values": values or {},
               "dependsOn": list(depends_on), "targetNamespace": target_namespace}
    return Doc("infrastructure/helmrelease.yaml.j2", {"release": release},
               Expected("helm.toolkit.fluxcd.io/v2", "HelmRelease", name, namespace))


def flux_kustomization(name: str, path: str, depends_on: tuple[str, ...], source: str, *, prune: bool = True,
                       wait: bool = True, timeout: str = "10m", canary: tuple[str, str] | None = None) -> Doc:
    """A Flux Kustomization in flux-system; with ``canary`` (name, namespace), health-checked on that Canary."""
    k = {"name": name, "path": path, "dependsOn": list(depends_on), "source": source, "prune": prune,
         "wait": wait, "timeout": timeout,
         "canary": {"name": canary[0], "namespace": canary[1]} if canary else None}
    return Doc("bootstrap/kustomization-flux.yaml.j2", {"k": k, "canary_health": CANARY_HEALTH},
               Expected("kustomize.toolkit.fluxcd.io/v1", "Kustomization", name, "flux-system"))


def object_name(name: str) -> str:
    """``name`` when it fits 63 characters, else a prefix and a digest of it: kustomize-controller puts the
    Kustomization's name in a label value (kustomize.toolkit.fluxcd.io/name) on every object it applies."""
    if len(name) <= 63:
        return name
    return f"{name[:54]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def apps_kustomizations(env: str, services: dict[str, str], source: str = RenderOptions.repo_name) -> list[Doc]:
    """The Flux Kustomizations of one environment: its namespaces, then one per service (``services``: name ->
    namespace), each on its own path, after Flagger and the namespaces, health-checked on its Canary, so that a
    broken service blocks no other and every build stays small."""
    namespaces = object_name(f"namespaces-{env}")
    docs = [flux_kustomization(namespaces, f"./flux/apps/{env}/namespaces", (), source)]
    for name, namespace in sorted(services.items()):
        docs.append(flux_kustomization(object_name(f"apps-{env}-{name}"), f"./flux/apps/{env}/{name}",
                                       ("flagger", namespaces), source, wait=False, timeout="5m",
                                       canary=(name, namespace)))
    return docs


def _with_index(files: dict[str, list[Doc]], directory: str) -> None:
    """The kustomization.yaml of a directory a Flux Kustomization applies: the files directly in it."""
    names = sorted(p[len(directory) + 1:] for p in files if p.startswith(directory + "/")
                   and "/" not in p[len(directory) + 1:])
    files[f"{directory}/kustomization.yaml"] = [kustomization(names)]


def infrastructure(environments: tuple[str, ...], options: RenderOptions) -> dict[str, list[Doc]]:
    """Every infrastructure file (path -> documents). A kustomization.yaml is in each directory a Flux
    Kustomization (or flux bootstrap) applies, and nowhere else: an aggregate of several would apply CRDs and
    their custom resources in one go."""
    files: dict[str, list[Doc]] = {}
    inject = {"linkerd.io/inject": "enabled"}
    managed = {"app.kubernetes.io/managed-by": "rollouts"}

    # bootstrap (`flux bootstrap git --path flux/bootstrap`): flux-system/ is bootstrap's own folder, where we own
    # only the kustomization.yaml (kept by bootstrap) that makes its GitRepository verify commits too; our objects
    # are in rollouts/: this repository, the Gateway API source, the Flux Kustomizations in order
    files[f"{BOOT}/kustomization.yaml"] = [kustomization(["flux-system", "rollouts"])]
    files[f"{BOOT}/flux-system/kustomization.yaml"] = [
        Doc("bootstrap/flux-system-kustomization.yaml.j2", {"verify_secret": options.verify_secret},
            Expected("kustomize.config.k8s.io/v1beta1", "Kustomization", "", ""))]
    repo = {"name": options.repo_name, "url": options.repo_url, "branch": options.branch,
            "secret_ref": options.secret_ref, "verify_secret": options.verify_secret}
    files[f"{LAYER}/repository.yaml"] = [
        Doc("bootstrap/repository.yaml.j2", {"repo": repo},
            Expected("source.toolkit.fluxcd.io/v1", "GitRepository", options.repo_name, "flux-system")),
        Doc("bootstrap/gateway-api.yaml.j2", {"pins": PINS},
            Expected("source.toolkit.fluxcd.io/v1", "GitRepository", "gateway-api", "flux-system")),
    ]
    src = options.repo_name
    chain = [
        flux_kustomization("gateway-api-crds", "./config/crd/standard", (), "gateway-api", prune=False),
        flux_kustomization("cert-manager", "./flux/infrastructure/cert-manager", ("gateway-api-crds",), src),
        flux_kustomization("linkerd", f"./{PD}/linkerd", ("cert-manager",), src, timeout="15m"),
        flux_kustomization("linkerd-viz", f"./{PD}/linkerd/viz", ("linkerd",), src),
        flux_kustomization("flagger", f"./{PD}/flagger", ("linkerd-viz",), src),
    ]
    if options.develop:
        demo_ns = _develop(files)
        chain.append(flux_kustomization("develop", f"./{PD}/develop", ("flagger",), src, wait=False, timeout="5m",
                                        canary=(str(DEMO["metadata"]["name"]), demo_ns)))
    files[f"{LAYER}/infrastructure.yaml"] = chain
    # apps-<env>.yaml (the per-service Kustomizations) depend on the services: render.derived.derived_files
    files[f"{LAYER}/kustomization.yaml"] = [kustomization(
        [f"apps-{env}.yaml" for env in environments] + ["infrastructure.yaml", "repository.yaml"])]

    # cert-manager and trust-manager
    cm = "flux/infrastructure/cert-manager"
    files[f"{cm}/namespace.yaml"] = [_ns("cert-manager", managed)]
    files[f"{cm}/source.yaml"] = [_helm_repo("jetstack", "cert-manager", "https://charts.jetstack.io")]
    files[f"{cm}/releases.yaml"] = [
        _release("cert-manager", "cert-manager", chart="cert-manager", version=PINS["cert-manager"],
                 source="jetstack", values={"crds": {"enabled": True}}),
        _release("trust-manager", "cert-manager", chart="trust-manager", version=PINS["trust-manager"],
                 source="jetstack", depends_on=("cert-manager",),
                 values={"app": {"trust": {"namespace": "cert-manager"}}}),
    ]
    _with_index(files, cm)

    # Linkerd: CRDs, identity from cert-manager, control plane; viz in its own directory (its own Kustomization)
    lk = f"{PD}/linkerd"
    files[f"{lk}/namespace.yaml"] = [_ns("linkerd", {**managed, "linkerd.io/is-control-plane": "true",
                                                     "linkerd.io/control-plane-ns": "linkerd",
                                                     "config.linkerd.io/admission-webhooks": "disabled",
                                                     **PRIVILEGED}, {"linkerd.io/inject": "disabled"})]
    files[f"{lk}/source.yaml"] = [_helm_repo("linkerd-edge", "linkerd", "https://helm.linkerd.io/edge")]
    files[f"{lk}/identity.yaml"] = [Doc(
        "infrastructure/linkerd-identity.yaml.j2", {},
        Expected("cert-manager.io/v1", "Issuer", "linkerd-trust-root-issuer", "cert-manager"),
        (Expected("cert-manager.io/v1", "Certificate", "linkerd-trust-anchor", "cert-manager"),
         Expected("cert-manager.io/v1", "ClusterIssuer", "linkerd-identity-issuer", ""),
         Expected("cert-manager.io/v1", "Certificate", "linkerd-identity-issuer", "linkerd"),
         Expected("trust.cert-manager.io/v1alpha1", "Bundle", "linkerd-identity-trust-roots", "")))]
    files[f"{lk}/releases.yaml"] = [
        _release("linkerd-crds", "linkerd", chart="linkerd-crds", version=PINS["linkerd"], source="linkerd-edge",
                 values={"installGatewayAPI": False}),
        _release("linkerd-control-plane", "linkerd", chart="linkerd-control-plane", version=PINS["linkerd"],
                 source="linkerd-edge", depends_on=("linkerd-crds",),
                 values={"identity": {"externalCA": True, "issuer": {"scheme": "kubernetes.io/tls"}}}),
    ]
    _with_index(files, lk)
    viz = f"{lk}/viz"
    files[f"{viz}/namespace.yaml"] = [_ns("linkerd-viz", {**managed, "linkerd.io/extension": "viz", **PRIVILEGED},
                                          inject)]
    files[f"{viz}/release.yaml"] = [
        _release("linkerd-viz", "linkerd-viz", chart="linkerd-viz", version=PINS["linkerd"],
                 source="linkerd-edge", source_namespace="linkerd"),
    ]
    _with_index(files, viz)

    # Flagger (Gateway API provider on Linkerd, linkerd-viz Prometheus) and the load tester, callable by Flagger only
    fl = f"{PD}/flagger"
    files[f"{fl}/namespace.yaml"] = [_ns("flagger-system", {**managed, **PRIVILEGED}, inject)]
    files[f"{fl}/source.yaml"] = [
        _oci_repo("flagger", "flagger-system", "oci://ghcr.io/fluxcd/charts/flagger", PINS["flagger"],
                  FLAGGER_IDENTITY),
        # the release workflow pushes only charts/flagger to OCI; the loadtester chart is in the Helm repository
        _helm_repo("flagger-charts", "flagger-system", FLAGGER_CHARTS),
    ]
    files[f"{fl}/releases.yaml"] = [
        _release("flagger", "flagger-system", source="flagger", oci=True, values={
            "meshProvider": "gatewayapi:v1beta1",
            "metricsServer": PROMETHEUS,
            "linkerdAuthPolicy": {"create": True, "namespace": "linkerd-viz"},
        }),
        _release("flagger-loadtester", "flagger-system", chart="loadtester", version=PINS["loadtester"],
                 source="flagger-charts", depends_on=("flagger",), values={
                     "serviceAccountName": "flagger-loadtester",
                     "podAnnotations": inject,
                 }),
    ]
    files[f"{fl}/loadtester.yaml"] = [
        Doc("infrastructure/serviceaccount.yaml.j2", {"sa": {"name": "flagger-loadtester",
                                                             "namespace": "flagger-system"}},
            Expected("v1", "ServiceAccount", "flagger-loadtester", "flagger-system")),
        Doc("infrastructure/loadtester-policy.yaml.j2", {},
            Expected("policy.linkerd.io/v1beta3", "Server", "flagger-loadtester", "flagger-system"),
            (Expected("policy.linkerd.io/v1alpha1", "MeshTLSAuthentication", "flagger", "flagger-system"),
             Expected("policy.linkerd.io/v1alpha1", "AuthorizationPolicy", "flagger-loadtester-from-flagger",
                      "flagger-system"))),
    ]
    _with_index(files, fl)

    return files


def _develop(files: dict[str, list[Doc]]) -> str:
    """The opt-in demo canary (podinfo), rendered by the same code as a real service; returns its namespace."""
    dev = f"{PD}/develop"
    demo_files, _, namespace = service_documents(DEMO, selector_label=DEMO_SELECTOR)
    files[f"{dev}/namespace.yaml"] = [_ns(namespace, {"app.kubernetes.io/managed-by": "rollouts",
                                                      "rollouts.dev/environment": str(DEMO["environment"]),
                                                      **PRIVILEGED}, {"linkerd.io/inject": "enabled"})]
    for name, docs in demo_files.items():
        if name != "kustomization.yaml":
            files[f"{dev}/{name}"] = docs
    _with_index(files, dev)
    return namespace


# podinfo's chart labels its pods only app.kubernetes.io/name: <fullname> (charts/podinfo/templates/_helpers.tpl,
# selectorLabels), which Flagger renames on the primary's pods: the policy and the budget match both values
DEMO_SELECTOR = "app.kubernetes.io/name"
DEMO: dict[str, Any] = {
    "metadata": {"name": "podinfo", "namespace": "podinfo", "owner": "platform"},
    "environment": "develop",  # namespace podinfo-develop
    "spec": {
        "workload": {
            "chart": {"repository": "oci://ghcr.io/stefanprodan/charts/podinfo", "version": PINS["podinfo"]},
            "image": {"repository": "ghcr.io/stefanprodan/podinfo", "tag": PINS["podinfo"]},
            # the chart's Service podinfo would collide with the apex Service Flagger creates
            "values": {"service": {"enabled": False}}, "port": 9898, "portName": "http", "replicas": 2,
            "autoscaling": {"minReplicas": 2, "maxReplicas": 4, "targetCPU": 80},
            "disruptionBudget": {"maxUnavailable": 1},
        },
        "strategy": {"type": "canary", "steps": [10, 20, 40, 60], "interval": "30s", "threshold": 5,
                     "progressDeadline": "5m", "provider": "gatewayapi:v1beta1"},
        "slo": {"successRate": 99, "latencyP99": "500ms", "interval": "1m"},
        "gates": {"loadTest": {"rps": 10, "concurrency": 2, "path": "/", "timeout": "15s"},
                  "acceptanceTest": {"cmd": "curl -sd 'test' CANARY_URL/token | grep token", "timeout": "30s"}},
    },
}

__all__ = ["PINS", "RenderOptions", "infrastructure", "namespace_for"]
