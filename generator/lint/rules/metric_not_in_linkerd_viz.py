"""Custom queries on the linkerd-viz Prometheus can only read what it scrapes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from generator.findings import Finding, Severity
from generator.lint.promql import PromQLError, parse, selectors

if TYPE_CHECKING:
    from generator.lint.rules import Context

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
_MESH_METRIC = re.compile(
    r"(request|response)_total|response_latency_ms_(bucket|sum|count)"
    r"|route_(request_total|response_total|actual_request_total|actual_response_total|retryable_total"
    r"|response_latency_ms_(bucket|sum|count))"
    r"|control_(request_total|response_total|response_latency_ms_(bucket|sum|count))"
    r"|(tcp|inbound|outbound|identity_cert|tokio_rt|process)_[a-z0-9_]+|proxy_build_info|rustls_info"
    r"|(container|machine)_(cpu|memory|network|fs)_[a-z0-9_]+|up|scrape_[a-z0-9_]+")
_DROPPED = ("container_memory_failures_total",)  # dropped by the cAdvisor job's metric_relabel_configs


def mesh_metric(name: str) -> bool:
    return _MESH_METRIC.fullmatch(name) is not None and name not in _DROPPED


def on_linkerd_viz(metric: dict[str, Any]) -> bool:
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
