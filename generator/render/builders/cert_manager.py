"""cert-manager and trust-manager: they issue and distribute Linkerd's identity."""

from __future__ import annotations

from ..infra import (
    MANAGED,
    PINS,
    PROMETHEUS_OPERATOR_CRDS,
    Layer,
    flux_kustomization,
    helm_release,
    helm_repository,
    system_namespace,
)
from ..options import RenderOptions

DIRECTORY = "flux/infrastructure/cert-manager"


def cert_manager(options: RenderOptions) -> Layer:
    releases = [
        helm_release("cert-manager", "cert-manager", chart="cert-manager", version=PINS["cert-manager"],
                     source="jetstack", values={"crds": {"enabled": True}}),
        helm_release("trust-manager", "cert-manager", chart="trust-manager", version=PINS["trust-manager"],
                     source="jetstack", depends_on=("cert-manager",),
                     values={"app": {"trust": {"namespace": "cert-manager"}}}),
    ]
    return Layer(flux_kustomization("cert-manager", f"./{DIRECTORY}", (PROMETHEUS_OPERATOR_CRDS,),
                                    options.repo_name),
                 DIRECTORY, {"namespace.yaml": [system_namespace("cert-manager", MANAGED)],
                             "source.yaml": [helm_repository("jetstack", "cert-manager", "https://charts.jetstack.io")],
                             "releases.yaml": releases})
