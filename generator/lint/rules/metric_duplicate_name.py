"""Two metrics with one name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "metric-duplicate-name"
SEVERITY = Severity.ERROR
SUMMARY = "Custom metric names must be unique within a service."
REASON = """\
Each metric becomes a MetricTemplate named after it; two with one name render two objects with the same name
and Flux applies only the last, so one check silently runs the other's query (Flagger itself keys analysis
results by metric name: fluxcd/flagger pkg/controller/scheduler_metrics.go)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        seen: set[str] = set()
        for i, metric in enumerate(spec.get("metrics") or []):
            if metric["name"] in seen:
                yield ctx.finding(env, ("metrics", i, "name"), f"metric {metric['name']!r} is defined twice",
                                  "Give every metric its own name.")
            seen.add(metric["name"])
