"""The pieces of the cluster side (built by the infrastructure builders in :mod:`.builders`): a layer of the
chain, namespaces, chart sources, HelmReleases, Flux Kustomizations, the per-environment Kustomizations of the
services.

Chart versions are pinned here, in one place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from .engine import Doc, Expected
from .options import RenderOptions

if TYPE_CHECKING:
    from ..spec.types import Resolved

PINS = {
    "gateway-api": "v1.2.1",  # Linkerd 2.20 supports Gateway API 1.2.1-1.5.1 and recommends 1.2.1
    "cert-manager": "v1.21.1",
    "trust-manager": "v0.26.0",
    "linkerd": "2026.6.3",  # edge-26.6.3 = Linkerd 2.20 (charts linkerd-crds, linkerd-control-plane, linkerd-viz)
    "flagger": "1.44.0",
    "loadtester": "0.38.0",
    "policy-controller": "0.10.6",  # sigstore/helm-charts chart (app v0.13.1): admission of signed images
    "podinfo": "6.9.2",  # the demo workload of the develop pack
    # prometheus-community chart 31.0.0 = prometheus-operator v0.93.0: the PrometheusRule CRD of the SLO rules
    "prometheus-operator-crds": "31.0.0",
}

FLAGGER_IDENTITY = {
    "issuer": r"^https://token\.actions\.githubusercontent\.com$",
    "subject": r"^https://github\.com/fluxcd/flagger/\.github/workflows/release\.yml@refs/tags/v\d+\.\d+\.\d+$",
}

PD = "flux/infrastructure/progressive-delivery"
PROMETHEUS_OPERATOR_CRDS = "prometheus-operator-crds"  # the Flux Kustomization of builders.prometheus_operator
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
MANAGED = {"app.kubernetes.io/managed-by": "rollouts"}
INJECT = {"linkerd.io/inject": "enabled"}


class Layer(NamedTuple):
    """One Flux Kustomization of the infrastructure chain (flux/bootstrap/rollouts/infrastructure.yaml), the files
    of the directory it applies (names in ``directory`` -> documents; the directory's kustomization.yaml lists
    them), the sources it needs beside this repository (in repository.yaml), and services rendered into its
    directory by the service builders (resolved spec, pod selector label), as the demo pack is."""

    kustomization: Doc
    directory: str = ""  # "" when it applies another source's files (the Gateway API CRDs)
    files: Mapping[str, list[Doc]] = MappingProxyType({})
    sources: tuple[Doc, ...] = ()
    services: tuple[tuple[Resolved, str], ...] = ()


def system_namespace(name: str, labels: dict[str, str], annotations: dict[str, str] | None = None) -> Doc:
    return Doc("infrastructure/namespace.yaml.j2", {"ns": {"name": name, "labels": labels,
                                                          "annotations": annotations or {}}},
               Expected("v1", "Namespace", name, ""))


def helm_repository(name: str, namespace: str, url: str) -> Doc:
    return Doc("infrastructure/helmrepository.yaml.j2", {"repo": {"name": name, "namespace": namespace, "url": url}},
               Expected("source.toolkit.fluxcd.io/v1", "HelmRepository", name, namespace))


def oci_repository(name: str, namespace: str, url: str, tag: str, verify: dict[str, str] | None) -> Doc:
    repo = {"name": name, "namespace": namespace, "url": url, "tag": tag, "verify": verify}
    return Doc("infrastructure/ocirepository.yaml.j2", {"repo": repo},
               Expected("source.toolkit.fluxcd.io/v1", "OCIRepository", name, namespace))


def helm_release(name: str, namespace: str, *, chart: str = "", version: str = "", source: str,
             source_namespace: str = "", oci: bool = False, values: dict[str, Any] | None = None,
             depends_on: tuple[str, ...] = (), target_namespace: str = "") -> Doc:
    release = {"name": name, "namespace": namespace, "chart": chart, "version": version, "source": source,
               "sourceNamespace": source_namespace or namespace, "oci": oci, "values": values or {},
               "dependsOn": list(depends_on), "targetNamespace": target_namespace}
    return Doc("infrastructure/helmrelease.yaml.j2", {"release": release},
               Expected("helm.toolkit.fluxcd.io/v2", "HelmRelease", name, namespace))


def flux_kustomization(name: str, path: str, depends_on: tuple[str, ...], source: str, *, prune: bool = True,
                       wait: bool = True, timeout: str = "10m", canary: tuple[str, str] | None = None,
                       release: tuple[str, str] | None = None) -> Doc:
    """A Flux Kustomization in flux-system; with ``canary`` (name, namespace), health-checked on that Canary, with
    ``release`` on that HelmRelease (its Ready condition: kstatus)."""
    k = {"name": name, "path": path, "dependsOn": list(depends_on), "source": source, "prune": prune,
         "wait": wait, "timeout": timeout,
         "canary": {"name": canary[0], "namespace": canary[1]} if canary else None,
         "release": {"name": release[0], "namespace": release[1]} if release else None}
    return Doc("bootstrap/kustomization-flux.yaml.j2", {"k": k, "canary_health": CANARY_HEALTH},
               Expected("kustomize.toolkit.fluxcd.io/v1", "Kustomization", name, "flux-system"))


def object_name(name: str) -> str:
    """``name`` when it fits 63 characters, else a prefix and a digest of it: kustomize-controller puts the
    Kustomization's name in a label value (kustomize.toolkit.fluxcd.io/name) on every object it applies."""
    if len(name) <= 63:
        return name
    return f"{name[:54]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def apps_kustomizations(env: str, services: dict[str, str], source: str = RenderOptions.repo_name,
                        after: tuple[str, ...] = (), flux_alone: Collection[str] = ()) -> list[Doc]:
    """The Flux Kustomizations of one environment: its namespaces, then one per service (``services``: name ->
    namespace), each on its own path, after Flagger, the prometheus-operator CRDs (its SLO rules are
    PrometheusRules), the namespaces and ``after`` (the analysis controller its Canary calls, and that controller's
    config of the environment), health-checked on its Canary (on its HelmRelease for the ``flux_alone`` ones,
    fluxRollback: no Canary), so that a broken service blocks no other and every build stays small."""
    namespaces = object_name(f"namespaces-{env}")
    docs = [flux_kustomization(namespaces, f"./flux/apps/{env}/namespaces", (), source)]
    for name, namespace in sorted(services.items()):
        docs.append(flux_kustomization(object_name(f"apps-{env}-{name}"), f"./flux/apps/{env}/{name}",
                                       ("flagger", PROMETHEUS_OPERATOR_CRDS, *after, namespaces), source,
                                       wait=False, timeout="5m",
                                       canary=None if name in flux_alone else (name, namespace),
                                       release=(name, namespace) if name in flux_alone else None))
    return docs
