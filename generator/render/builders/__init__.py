"""The builders: one small function per object kind, listed here in output order (as yamllint lists its rules).

A **service builder** takes the :class:`~..model.Service` (one spec in one environment) and yields the objects
of its kind (:class:`~..model.Built`: the file in flux/apps/<env>/<service>/, the document, its origin hints),
none when the spec does not ask for the kind. Objects of one file appear in the order of ``SERVICE``; each
directory's kustomization.yaml lists its files.

An **infrastructure builder** takes the :class:`~..options.RenderOptions` and returns a
:class:`~..infra.Layer` (or None when the options leave it out): one Flux Kustomization of the chain in
flux/bootstrap/rollouts/infrastructure.yaml, in the order of ``INFRASTRUCTURE`` (each layer names the one it
depends on), with the files of its directory, its sources and any service rendered into it.

A new object kind of a service, a metric provider or a stack is a new builder in its own module, added here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..engine import Doc
from ..infra import Layer
from ..model import SELECTOR_LABEL, Built, Origin, Service, kustomization
from ..options import RenderOptions
from .admission import environment_registries, policy_controller
from .alerts import alert_providers
from .autoscaling import autoscaler, disruption_budget
from .bootstrap import bootstrap, gateway_api
from .canary import canary
from .cert_manager import cert_manager
from .controller import analysis_controller, service_config, spec_digest
from .dashboards import dashboard_configmap
from .develop import develop
from .flagger import flagger
from .linkerd import linkerd, linkerd_viz
from .metrics import metric_templates
from .policy import authorizations, server
from .prometheus_operator import prometheus_operator_crds
from .rbac import helm_test_role, helm_test_role_binding
from .release import chart_source, flux_alone, helm_release, ingress_route
from .slo import slo_rules

if TYPE_CHECKING:
    from ...spec.types import Resolved

ServiceBuilder = Callable[[Service], Iterable[Built]]
InfrastructureBuilder = Callable[[RenderOptions], Layer | None]

SERVICE: tuple[ServiceBuilder, ...] = (
    chart_source,            # release.yaml: HelmRepository or OCIRepository
    helm_release,            # release.yaml: HelmRelease
    ingress_route,           # route.yaml: HTTPRoute (fluxRollback with an ingress; else the Canary's)
    autoscaler,              # autoscaling.yaml: HorizontalPodAutoscaler
    disruption_budget,       # autoscaling.yaml: PodDisruptionBudget
    canary,                  # canary.yaml: Canary
    metric_templates,        # metrics.yaml: MetricTemplate
    alert_providers,         # alerts.yaml: AlertProvider
    helm_test_role,          # rbac.yaml: Role
    helm_test_role_binding,  # rbac.yaml: RoleBinding
    server,                  # policy.yaml: Server
    authorizations,          # policy.yaml: MeshTLSAuthentication / NetworkAuthentication + AuthorizationPolicy
    slo_rules,               # slo-rules.yaml: PrometheusRule (the SLO's burn-rate recordings and alerts)
    dashboard_configmap,     # dashboard.yaml: ConfigMap (the Grafana dashboard, for the dashboard sidecar)
)

INFRASTRUCTURE: tuple[InfrastructureBuilder, ...] = (
    gateway_api,   # the Gateway API CRDs (upstream GitRepository)
    prometheus_operator_crds,  # flux/infrastructure/prometheus-operator-crds (PrometheusRule, for the SLO rules)
    cert_manager,  # flux/infrastructure/cert-manager
    policy_controller,  # flux/infrastructure/policy-controller (admission: in rollouts.project.yaml)
    linkerd,       # flux/infrastructure/progressive-delivery/linkerd
    linkerd_viz,   # .../linkerd/viz
    flagger,       # .../flagger
    analysis_controller,  # .../analysis-controller (the webhook service of Flagger's gates)
    develop,       # .../develop (render: {develop: true})
)

#: What only Flagger reads: a fluxRollback service (Flux alone) has none of it.
FLAGGER_ONLY: frozenset[ServiceBuilder] = frozenset({canary, metric_templates, alert_providers, helm_test_role,
                                                     helm_test_role_binding})

ServiceFiles = tuple[dict[str, list[Doc]], dict[str, Origin], str]


def service_documents(resolved: Resolved, selector_label: str = SELECTOR_LABEL,
                      builders: Sequence[ServiceBuilder] = SERVICE) -> ServiceFiles:
    """The files of one service in one environment (name -> documents, each file's kustomization.yaml last),
    origin hints per object ("Kind/namespace/name" -> {pointer: spec path}), and the Kubernetes namespace."""
    svc = Service(resolved, selector_label)
    files: dict[str, list[Doc]] = {}
    origins: dict[str, Origin] = {}
    alone = flux_alone(svc)
    for build in builders:
        if alone and build in FLAGGER_ONLY:
            continue
        for built in build(svc):
            files.setdefault(built.file, []).append(built.doc)
            want = built.doc.expected
            origins[f"{want.kind}/{want.namespace}/{want.name}"] = built.origin
    files["kustomization.yaml"] = [kustomization(sorted(files))]
    return files, origins, svc.namespace


def service_facts(resolved: Resolved, raw: bytes) -> dict[str, Any]:
    """What the files derived from every service need of one service in one environment (render/derived.py):
    its analysis controller config entry (none under fluxRollback: no Flagger calls it), whether Flux alone
    releases it, and the registries its images may come from. Made where the spec is rendered and kept in the
    render cache, so that the derived files never read the specs again."""
    svc = Service(resolved)
    return {"controller": None if flux_alone(svc) else service_config(svc, spec_digest(raw)),
            "fluxAlone": flux_alone(svc),
            "registries": environment_registries([resolved["spec"]])}


def infrastructure(environments: Sequence[str], options: RenderOptions,
                   builders: Sequence[InfrastructureBuilder] = INFRASTRUCTURE) -> dict[str, list[Doc]]:
    """Every infrastructure file (path -> documents). A kustomization.yaml is in each directory a Flux
    Kustomization (or flux bootstrap) applies, and nowhere else: an aggregate of several would apply CRDs and
    their custom resources in one go."""
    options = replace(options, environments=tuple(environments))  # the controller mounts each one's config
    layers = [layer for build in builders if (layer := build(options)) is not None]
    files = bootstrap(environments, options, layers)
    for layer in layers:
        if not layer.directory:
            continue
        own = dict(layer.files)
        for resolved, selector_label in layer.services:
            rendered, _, _ = service_documents(resolved, selector_label)
            own.update((name, docs) for name, docs in rendered.items() if name != "kustomization.yaml")
        own["kustomization.yaml"] = [kustomization(sorted(own))]
        files.update((f"{layer.directory}/{name}", docs) for name, docs in own.items())
    return files


__all__ = ["INFRASTRUCTURE", "SERVICE", "InfrastructureBuilder", "ServiceBuilder", "infrastructure",
           "service_documents"]
