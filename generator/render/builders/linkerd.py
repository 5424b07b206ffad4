"""Linkerd: its CRDs, an identity issued by cert-manager, the control plane; linkerd-viz (the Prometheus Flagger
and the SLO metrics read) in its own directory and Kustomization."""

from __future__ import annotations

from ..engine import Doc, Expected
from ..infra import (
    INJECT,
    MANAGED,
    PD,
    PINS,
    PRIVILEGED,
    Layer,
    flux_kustomization,
    helm_release,
    helm_repository,
    system_namespace,
)
from ..options import RenderOptions

DIRECTORY = f"{PD}/linkerd"
VIZ = f"{DIRECTORY}/viz"


def linkerd(options: RenderOptions) -> Layer:
    namespace = system_namespace("linkerd", {**MANAGED, "linkerd.io/is-control-plane": "true",
                                             "linkerd.io/control-plane-ns": "linkerd",
                                             "config.linkerd.io/admission-webhooks": "disabled", **PRIVILEGED},
                                 {"linkerd.io/inject": "disabled"})
    identity = Doc(
        "infrastructure/linkerd-identity.yaml.j2", {},
        Expected("cert-manager.io/v1", "Issuer", "linkerd-trust-root-issuer", "cert-manager"),
        (Expected("cert-manager.io/v1", "Certificate", "linkerd-trust-anchor", "cert-manager"),
         Expected("cert-manager.io/v1", "ClusterIssuer", "linkerd-identity-issuer", ""),
         Expected("cert-manager.io/v1", "Certificate", "linkerd-identity-issuer", "linkerd"),
         Expected("trust.cert-manager.io/v1alpha1", "Bundle", "linkerd-identity-trust-roots", "")))
    releases = [
        helm_release("linkerd-crds", "linkerd", chart="linkerd-crds", version=PINS["linkerd"], source="linkerd-edge",
                     values={"installGatewayAPI": False}),
        helm_release("linkerd-control-plane", "linkerd", chart="linkerd-control-plane", version=PINS["linkerd"],
                     source="linkerd-edge", depends_on=("linkerd-crds",),
                     values={"identity": {"externalCA": True, "issuer": {"scheme": "kubernetes.io/tls"}}}),
    ]
    return Layer(flux_kustomization("linkerd", f"./{DIRECTORY}", ("cert-manager",), options.repo_name, timeout="15m"),
                 DIRECTORY, {"namespace.yaml": [namespace],
                             "source.yaml": [helm_repository("linkerd-edge", "linkerd", "https://helm.linkerd.io/edge")],
                             "identity.yaml": [identity], "releases.yaml": releases})


def linkerd_viz(options: RenderOptions) -> Layer:
    namespace = system_namespace("linkerd-viz", {**MANAGED, "linkerd.io/extension": "viz", **PRIVILEGED}, INJECT)
    release = helm_release("linkerd-viz", "linkerd-viz", chart="linkerd-viz", version=PINS["linkerd"],
                           source="linkerd-edge", source_namespace="linkerd")
    return Layer(flux_kustomization("linkerd-viz", f"./{VIZ}", ("linkerd",), options.repo_name),
                 VIZ, {"namespace.yaml": [namespace], "release.yaml": [release]})
