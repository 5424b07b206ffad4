"""A rate window shorter than the analysis interval leaves requests unchecked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...durations import seconds
from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "metric-window-short"
SEVERITY = Severity.WARNING
SUMMARY = "Metric and SLO intervals should be at least the analysis interval."
REASON = """\
Each analysis run queries the last <metric interval> of data. When that window is shorter than the time between
runs (strategy.interval), the requests in between are never looked at, and a canary that fails in bursts
passes (fluxcd/flagger#1004, the difference between analysis and metric intervals; #1689)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        if spec["strategy"]["type"] == "fluxRollback":  # no Flagger analysis (flux-rollback-field-ignored)
            continue
        interval = spec["strategy"]["interval"]
        every = seconds(interval)
        slo = spec.get("slo")
        if slo is not None and seconds(slo["interval"]) < every:
            yield ctx.finding(env, ("slo", "interval"),
                              f"rate window {slo['interval']} is shorter than the analysis interval {interval}",
                              f"Set the window to at least {interval}.")
        for i, metric in enumerate(spec.get("metrics") or []):
            if seconds(metric["interval"]) < every:
                yield ctx.finding(env, ("metrics", i, "interval"),
                                  f"rate window {metric['interval']} of metric {metric['name']!r} is shorter than "
                                  f"the analysis interval {interval}", f"Set the window to at least {interval}.")
