"""Flagger (Gateway API provider on Linkerd, linkerd-viz's Prometheus) and its load tester, callable by Flagger
only."""

from __future__ import annotations

from ..engine import Doc, Expected
from ..infra import (
    FLAGGER_CHARTS,
    FLAGGER_IDENTITY,
    INJECT,
    MANAGED,
    PD,
    PINS,
    PRIVILEGED,
    Layer,
    flux_kustomization,
    helm_release,
    helm_repository,
    oci_repository,
    system_namespace,
)
from ..model import PROMETHEUS
from ..options import RenderOptions

DIRECTORY = f"{PD}/flagger"


def flagger(options: RenderOptions) -> Layer:
    sources = [
        oci_repository("flagger", "flagger-system", "oci://ghcr.io/fluxcd/charts/flagger", PINS["flagger"],
                       FLAGGER_IDENTITY),
        # the release workflow pushes only charts/flagger to OCI; the loadtester chart is in the Helm repository
        helm_repository("flagger-charts", "flagger-system", FLAGGER_CHARTS),
    ]
    releases = [
        helm_release("flagger", "flagger-system", source="flagger", oci=True, values={
            "meshProvider": "gatewayapi:v1beta1",
            "metricsServer": PROMETHEUS,
            "linkerdAuthPolicy": {"create": True, "namespace": "linkerd-viz"},
        }),
        helm_release("flagger-loadtester", "flagger-system", chart="loadtester", version=PINS["loadtester"],
                     source="flagger-charts", depends_on=("flagger",), values={
                         "serviceAccountName": "flagger-loadtester",
                         "podAnnotations": INJECT,
                     }),
    ]
    loadtester = [
        Doc("infrastructure/serviceaccount.yaml.j2", {"sa": {"name": "flagger-loadtester",
                                                             "namespace": "flagger-system"}},
            Expected("v1", "ServiceAccount", "flagger-loadtester", "flagger-system")),
        Doc("infrastructure/loadtester-policy.yaml.j2", {},
            Expected("policy.linkerd.io/v1beta3", "Server", "flagger-loadtester", "flagger-system"),
            (Expected("policy.linkerd.io/v1alpha1", "MeshTLSAuthentication", "flagger", "flagger-system"),
             Expected("policy.linkerd.io/v1alpha1", "AuthorizationPolicy", "flagger-loadtester-from-flagger",
                      "flagger-system"))),
    ]
    return Layer(flux_kustomization("flagger", f"./{DIRECTORY}", ("linkerd-viz",), options.repo_name), DIRECTORY,
                 {"namespace.yaml": [system_namespace("flagger-system", {**MANAGED, **PRIVILEGED}, INJECT)],
                  "source.yaml": sources, "releases.yaml": releases, "loadtester.yaml": loadtester})
