"""The prometheus-operator CRDs (PrometheusRule, ServiceMonitor, ...), so that the SLO rules every service renders
(builders.slo) apply on a cluster without them: the prometheus-community chart ``prometheus-operator-crds``, pinned
(31.0.0 = prometheus-operator v0.93.0, the CRDs the shipped PrometheusRule schema is made from).

The chart ships the CRDs as templates (charts/crds/templates/ in prometheus-community/helm-charts), so Helm
upgrades them with the chart, and an uninstall would delete them with every custom resource of theirs (the
chart's README, "Uninstall Chart"): they carry ``helm.sh/resource-policy: keep`` (value ``crds.annotations``).
A CRD-only chart has no namespace of its own: its source and release are in flux-system, so this layer owns no
namespace a Prometheus stack of the user's may already have (``monitoring``). The rules are evaluated by a
Prometheus that prometheus-operator runs and whose ruleSelector selects them (docs/render.md, "SLO rules"): this
layer installs the CRDs only. In the chain: after the Gateway API CRDs, before cert-manager."""

from __future__ import annotations

from ..infra import PINS, PROMETHEUS_OPERATOR_CRDS, Layer, flux_kustomization, helm_release, helm_repository
from ..options import RenderOptions

DIRECTORY = "flux/infrastructure/prometheus-operator-crds"
NAME = PROMETHEUS_OPERATOR_CRDS
CHARTS = "https://prometheus-community.github.io/helm-charts"


def prometheus_operator_crds(options: RenderOptions) -> Layer:
    release = helm_release(NAME, "flux-system", chart=NAME, version=PINS[NAME], source="prometheus-community",
                           values={"crds": {"annotations": {"helm.sh/resource-policy": "keep"}}})
    return Layer(flux_kustomization(NAME, f"./{DIRECTORY}", ("gateway-api-crds",), options.repo_name), DIRECTORY,
                 {"source.yaml": [helm_repository("prometheus-community", "flux-system", CHARTS)],
                  "release.yaml": [release]})
