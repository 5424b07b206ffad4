"""The cluster side that every service needs: Gateway API CRDs, cert-manager and trust-manager, Linkerd with a
cert-manager issued identity, linkerd-viz, Flagger with its load tester, in that order; and the opt-in demo pack.

Chart versions are pinned here, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.render.engine import Doc, Expected
from generator.render.model import PROMETHEUS, kustomization, namespace_for, service_documents

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


@dataclass(frozen=True)
class RenderOptions:
    """Cluster-level choices: the GitOps repository Flux pulls, whether Flux verifies its commits, the demo pack."""

    repo_url: str = "ssh://git@github.com/example/gitops.git"
    branch: str = "main"
    repo_name: str = "rollouts"
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


def _flux_kustomization(name: str, path: str, depends_on: tuple[str, ...], source: str, *, prune: bool = True,
                        wait: bool = True, timeout: str = "10m") -> Doc:
    k = {"name": name, "path": path, "dependsOn": list(depends_on), "source": source, "prune": prune,
         "wait": wait, "timeout": timeout}
    return Doc("bootstrap/kustomization-flux.yaml.j2", {"k": k},
               Expected("kustomize.toolkit.fluxcd.io/v1", "Kustomization", name, "flux-system"))


def _with_index(files: dict[str, list[Doc]], directory: str, extra: tuple[str, ...] = ()) -> None:
    names = sorted({p[len(directory) + 1:] for p in files if p.startswith(directory + "/")
                    and "/" not in p[len(directory) + 1:]} | set(extra))
    files[f"{directory}/kustomization.yaml"] = [kustomization(names)]


def infrastructure(environments: tuple[str, ...], options: RenderOptions) -> dict[str, list[Doc]]:
    """Every infrastructure file (path -> documents), with a kustomization.yaml in each directory."""
    files: dict[str, list[Doc]] = {}
    inject = {"linkerd.io/inject": "enabled"}
    managed = {"app.kubernetes.io/managed-by": "rollouts"}

    # bootstrap: the repository itself, the Gateway API source, and the Flux Kustomizations in order
    repo = {"name": options.repo_name, "url": options.repo_url, "branch": options.branch,
            "verify_secret": options.verify_secret}
    boot = "flux/bootstrap/flux-system"
    files[f"{boot}/repository.yaml"] = [
        Doc("bootstrap/repository.yaml.j2", {"repo": repo},
            Expected("source.toolkit.fluxcd.io/v1", "GitRepository", options.repo_name, "flux-system")),
        Doc("bootstrap/gateway-api.yaml.j2", {"pins": PINS},
            Expected("source.toolkit.fluxcd.io/v1", "GitRepository", "gateway-api", "flux-system")),
    ]
    src = options.repo_name
    chain = [
        _flux_kustomization("gateway-api-crds", "./config/crd/standard", (), "gateway-api", prune=False),
        _flux_kustomization("cert-manager", "./flux/infrastructure/cert-manager", ("gateway-api-crds",), src),
        _flux_kustomization("linkerd", f"./{PD}/linkerd", ("cert-manager",), src, timeout="15m"),
        _flux_kustomization("linkerd-viz", f"./{PD}/linkerd/viz", ("linkerd",), src),
        _flux_kustomization("flagger", f"./{PD}/flagger", ("linkerd-viz",), src),
    ]
    if options.develop:
        chain.append(_flux_kustomization("develop", f"./{PD}/develop", ("flagger",), src, wait=False))
    for env in environments:
        chain.append(_flux_kustomization(f"apps-{env}", f"./flux/apps/{env}", ("flagger",), src, wait=False))
    files[f"{boot}/infrastructure.yaml"] = chain

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
                                                     "config.linkerd.io/admission-webhooks": "disabled"})]
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
    files[f"{viz}/namespace.yaml"] = [_ns("linkerd-viz", {**managed, "linkerd.io/extension": "viz"}, inject)]
    files[f"{viz}/release.yaml"] = [
        _release("linkerd-viz", "linkerd-viz", chart="linkerd-viz", version=PINS["linkerd"],
                 source="linkerd-edge", source_namespace="linkerd", values={"installNamespace": False}),
    ]
    _with_index(files, viz)

    # Flagger (Gateway API provider on Linkerd, linkerd-viz Prometheus) and the load tester, callable by Flagger only
    fl = f"{PD}/flagger"
    files[f"{fl}/namespace.yaml"] = [_ns("flagger-system", managed, inject)]
    files[f"{fl}/source.yaml"] = [
        _oci_repo("flagger", "flagger-system", "oci://ghcr.io/fluxcd/charts/flagger", PINS["flagger"],
                  FLAGGER_IDENTITY),
        _oci_repo("flagger-loadtester", "flagger-system", "oci://ghcr.io/fluxcd/charts/loadtester",
                  PINS["loadtester"], FLAGGER_IDENTITY),
    ]
    files[f"{fl}/releases.yaml"] = [
        _release("flagger", "flagger-system", source="flagger", oci=True, values={
            "meshProvider": "gatewayapi:v1beta1",
            "metricsServer": PROMETHEUS,
            "linkerdAuthPolicy": {"create": True, "namespace": "linkerd-viz"},
        }),
        _release("flagger-loadtester", "flagger-system", source="flagger-loadtester", oci=True,
                 depends_on=("flagger",), values={
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

    # develop: an opt-in demo canary (podinfo), rendered by the same code as a real service
    dev = f"{PD}/develop"
    demo_files, _, demo_ns = service_documents(DEMO)
    files[f"{dev}/namespace.yaml"] = [_ns(demo_ns, managed, inject)]
    for name, docs in demo_files.items():
        if name != "kustomization.yaml":
            files[f"{dev}/{name}"] = docs
    _with_index(files, dev)

    _with_index(files, PD, ("flagger", "linkerd", "linkerd/viz"))
    _with_index(files, "flux/infrastructure", ("cert-manager", "progressive-delivery"))
    _with_index(files, "flux/bootstrap", ("flux-system",))
    _with_index(files, boot)
    return files


DEMO: dict[str, Any] = {
    "metadata": {"name": "podinfo", "namespace": "develop", "owner": "platform"},
    "environment": "production",
    "spec": {
        "workload": {
            "chart": {"repository": "oci://ghcr.io/stefanprodan/charts/podinfo", "version": PINS["podinfo"]},
            "image": {"repository": "ghcr.io/stefanprodan/podinfo", "tag": PINS["podinfo"]},
            "values": {}, "port": 9898, "portName": "http", "replicas": 2,
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
