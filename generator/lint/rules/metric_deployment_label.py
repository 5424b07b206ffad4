"""The deployment label is linkerd-viz's, not every Prometheus's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity
from ..promql import PromQLError, parse, selectors
from .metric_not_in_linkerd_viz import on_linkerd_viz

if TYPE_CHECKING:
    from . import Context

ID = "metric-deployment-label"
SEVERITY = Severity.WARNING
SUMMARY = "A custom metric on another Prometheus should not select by the deployment label, which linkerd-viz adds."
REASON = """\
The `deployment` label of Linkerd's series is not the application's: linkerd-viz's scrape job copies the pod label
linkerd.io/proxy-deployment into it, and only for proxy targets (linkerd/linkerd2
viz/charts/linkerd-viz/templates/prometheus.yaml). A Prometheus that scrapes the application itself, the usual
`address` of an application metric, has no such label unless its own relabelling adds one, so
deployment=~"{{ target }}" selects nothing, Flagger reports "no values found" and the check fails. Flagger's docs
select the canary's pods by name instead: pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)", which matches the
canary's pods and not the primary's (fluxcd/flagger docs/gitbook/usage/metrics.md)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        for i, metric in enumerate(spec.get("metrics") or []):
            if on_linkerd_viz(metric):
                continue
            try:
                tree = parse(metric["query"], metric.get("variables"))
            except PromQLError:
                continue  # not for this rule to report; promtool checks the rendered MetricTemplate
            if any(m.label == "deployment" for s in selectors(tree) for m in s.matchers):
                yield ctx.finding(env, ("metrics", i, "query"),
                                  f"metric {metric['name']!r} selects by the deployment label on {metric['address']}, "
                                  "a label linkerd-viz adds to proxy series that other Prometheus setups lack",
                                  'Select the canary\'s pods by name: pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)", '
                                  "or make your Prometheus add the label.")
