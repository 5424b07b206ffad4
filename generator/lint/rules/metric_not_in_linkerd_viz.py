"""Custom queries on the linkerd-viz Prometheus can only read what it scrapes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity
from ..promql import PromQLError, parse, selectors

if TYPE_CHECKING:
    from ...spec.types import Metric
    from . import Context

ID = "metric-not-in-linkerd-viz"
SEVERITY = Severity.ERROR
SUMMARY = "A custom metric without an address is queried on linkerd-viz, which has Linkerd proxy metrics only."
REASON = """\
A custom metric without `address` is queried on the linkerd-viz Prometheus (http://prometheus.linkerd-viz:9090).
That Prometheus scrapes only the Linkerd proxies, the Linkerd control plane, itself and the nodes' cAdvisor
(linkerd/linkerd2 viz/charts/linkerd-viz/templates/prometheus.yaml), so an application metric such as a queue lag
is never there, and the `deployment` label exists only on proxy series. The query returns nothing, Flagger counts
"no values found" as a failed check, and no release can pass (fluxcd/flagger pkg/metrics/providers/prometheus.go).
The proxy's own metrics are listed in linkerd/website linkerd.io/content/2-edge/reference/proxy-metrics.md."""

_VIZ = re.compile(r"https?://prometheus\.linkerd-viz(\.svc(\.cluster\.local)?)?(:[0-9]+)?/?")
# The Linkerd proxy's metrics (histograms as their _bucket, _sum and _count series), the nodes' cAdvisor series
# that the viz job keeps, and the series Prometheus records for every target.
_HISTOGRAMS = ("response_latency_ms", "route_response_latency_ms", "control_response_latency_ms")
_MESH_NAMES = frozenset({
    "request_total", "response_total", "route_request_total", "route_response_total", "route_actual_request_total",
    "route_actual_response_total", "route_retryable_total", "control_request_total", "control_response_total",
    "proxy_build_info", "rustls_info", "up",
    *(f"{h}_{suffix}" for h in _HISTOGRAMS for suffix in ("bucket", "sum", "count")),
})
_MESH_PREFIXES = ("tcp_", "inbound_", "outbound_", "identity_cert_", "tokio_rt_", "process_", "scrape_")
_CADVISOR = re.compile(r"(container|machine)_(cpu|memory|network|fs)_.+")  # the viz cAdvisor job's keep regex
_DROPPED = ("container_memory_failures_total",)  # and what it drops


def mesh_metric(name: str) -> bool:
    if name in _MESH_NAMES or name.startswith(_MESH_PREFIXES):
        return True
    return _CADVISOR.fullmatch(name) is not None and name not in _DROPPED


def on_linkerd_viz(metric: Metric) -> bool:
    """The custom metric is queried on the linkerd-viz Prometheus: no address, or that address spelled out."""
    address = metric.get("address")
    return not address or _VIZ.fullmatch(address) is not None


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        for i, metric in enumerate(spec.get("metrics") or []):
            if not on_linkerd_viz(metric):
                continue
            try:
                tree = parse(metric["query"], metric.get("variables"))
            except PromQLError:
                continue  # not for this rule to report; promtool checks the rendered MetricTemplate
            names = [s.name for s in selectors(tree) if s.name and not mesh_metric(s.name)]
            if names:
                unknown = ", ".join(dict.fromkeys(names))
                yield ctx.finding(env, ("metrics", i, "query"),
                                  f"metric {metric['name']!r} queries {unknown} on the linkerd-viz Prometheus, "
                                  "which scrapes only Linkerd proxies and the control plane",
                                  f"Set metrics[{i}].address to the Prometheus that scrapes the app, "
                                  "e.g. http://prometheus.monitoring:9090.")
