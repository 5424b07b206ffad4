"""Flagger runs the analysis at most every 10 seconds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...durations import duration, seconds
from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "interval-below-minimum"
SEVERITY = Severity.WARNING
SUMMARY = "An analysis interval below 10s is raised to 10s by Flagger."
REASON = """\
Flagger's Canary.GetAnalysisInterval returns 10s for any shorter analysis.interval
(fluxcd/flagger pkg/apis/flagger/v1beta1/canary.go), so the rollout is slower and the time to abort longer
than the spec says, and metrics queried over a shorter window see too few samples."""

MINIMUM = 10.0


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        interval = spec["strategy"]["interval"]
        if seconds(interval) < MINIMUM:
            yield ctx.finding(env, ("strategy", "interval"),
                              f"interval {interval} is below Flagger's minimum; it runs every {duration(MINIMUM)}",
                              "Set interval to 10s or more.")
