"""The analysis metrics: the SLO's (on Linkerd's proxy metrics, through linkerd-viz's Prometheus) and the spec's
own PromQL, each a MetricTemplate that the Canary's analysis checks against its threshold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from ...durations import milliseconds
from ..model import PROMETHEUS, Built, Service

if TYPE_CHECKING:
    from ...spec.types import SLO

SUCCESS_RATE = (
    'sum(rate(response_total{namespace="{{ namespace }}", deployment=~"{{ target }}", classification!="failure", '
    'direction="{{ variables.direction }}"}[{{ interval }}])) / sum(rate(response_total{namespace="{{ namespace }}", '
    'deployment=~"{{ target }}", direction="{{ variables.direction }}"}[{{ interval }}])) * 100'
)
LATENCY = (
    'histogram_quantile({quantile}, sum(rate(response_latency_ms_bucket{{namespace="{{{{ namespace }}}}", '
    'deployment=~"{{{{ target }}}}", direction="{{{{ variables.direction }}}}"}}[{{{{ interval }}}}])) by (le))'
)
LATENCIES = tuple((key, LATENCY.format(quantile=quantile)) for key, quantile in (("latencyP99", "0.99"),
                                                                               ("latencyP95", "0.95")))


class Check(NamedTuple):
    """One metric: its entry in the Canary's analysis, and its MetricTemplate."""

    analysis: dict[str, Any]
    template: dict[str, Any]


def checks(svc: Service) -> list[Check]:
    """The service's metrics in the analysis's order: success rate, latencies, then the spec's own."""
    name = svc.name
    slo: SLO | dict[str, Any] = svc.spec.get("slo") or {}
    inbound = {"direction": "inbound"}
    out: list[Check] = []
    if "successRate" in slo:
        origin: tuple[str | int, ...] = ("spec", "slo", "successRate")
        out.append(Check({"name": "success-rate", "template": f"{name}-success-rate",
                          "thresholdRange": {"min": slo["successRate"]}, "interval": str(slo["interval"]),
                          "variables": inbound, "origin": origin},
                         {"template": f"{name}-success-rate", "address": PROMETHEUS, "query": SUCCESS_RATE,
                          "origin": origin}))
    for key, query in LATENCIES:
        if key in slo:
            metric = "latency-" + key[-3:].lower()
            origin = ("spec", "slo", key)
            out.append(Check({"name": metric, "template": f"{name}-{metric}",
                              "thresholdRange": {"max": milliseconds(str(slo[key]))},  # type: ignore[literal-required]
                              "interval": str(slo["interval"]), "variables": inbound, "origin": origin},
                             {"template": f"{name}-{metric}", "address": PROMETHEUS,
                              "query": query, "origin": origin}))
    for i, custom in enumerate(svc.spec.get("metrics") or []):
        bounds = {k: custom[k] for k in ("min", "max") if k in custom}
        origin = ("spec", "metrics", i)
        out.append(Check({"name": custom["name"], "template": f"{name}-{custom['name']}", "thresholdRange": bounds,
                          "interval": custom["interval"], "variables": custom.get("variables") or {},
                          "origin": origin},
                         {"template": f"{name}-{custom['name']}", "address": custom.get("address", PROMETHEUS),
                          "query": custom["query"], "origin": origin}))
    return out


def metric_templates(svc: Service) -> Iterator[Built]:
    for check in svc.part(checks):
        origin = check.template["origin"]
        query = (*origin, "query") if origin[1] == "metrics" else origin
        yield svc.object("metrics.yaml", "apps/metrictemplate.yaml.j2", {"metric": check.template},
                         "flagger.app/v1beta1", "MetricTemplate", check.template["template"],
                         {"": origin, "/spec/query": query})
