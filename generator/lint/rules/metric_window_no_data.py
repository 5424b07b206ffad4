"""Rate windows too short to hold two samples return no data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...durations import seconds
from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "metric-window-no-data"
SEVERITY = Severity.ERROR
SUMMARY = "Metric and SLO intervals (PromQL rate windows) must be at least 1m: twice a 30s scrape interval."
REASON = """\
Flagger passes the metric interval as the range of rate() in the query. rate() needs two samples inside the
window, so a window shorter than twice the Prometheus scrape interval often returns nothing, and Flagger halts
with "no values found" and counts a failed check (fluxcd/flagger#1689, #1123). The rule assumes a scrape
interval of 30s, the common Prometheus setting (linkerd-viz scrapes every 10s, which 1m covers too)."""

SCRAPE = 30.0


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        slo = spec.get("slo")
        if slo is not None and seconds(slo["interval"]) < 2 * SCRAPE:
            yield ctx.finding(env, ("slo", "interval"),
                              f"rate window {slo['interval']} is shorter than two scrapes (2 x 30s); "
                              "the SLO queries may return no data", "Use 1m or more.")
        for i, metric in enumerate(spec.get("metrics") or []):
            if seconds(metric["interval"]) < 2 * SCRAPE:
                yield ctx.finding(env, ("metrics", i, "interval"),
                                  f"rate window {metric['interval']} of metric {metric['name']!r} is shorter than "
                                  "two scrapes (2 x 30s); the query may return no data", "Use 1m or more.")
