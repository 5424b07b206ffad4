"""A metric without bounds can never fail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "metric-without-bounds"
SEVERITY = Severity.WARNING
SUMMARY = "A custom metric needs min, max or both; without them it can never fail."
REASON = """\
Flagger fails a metric check only when the value is below thresholdRange.min or above thresholdRange.max; a
metric with neither is queried and logged but never stops a bad release (fluxcd/flagger
pkg/controller/scheduler_metrics.go), so it gives a false sense of safety."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        for i, metric in enumerate(spec.get("metrics") or []):
            if "min" not in metric and "max" not in metric:
                yield ctx.finding(env, ("metrics", i, "name"), f"metric {metric['name']!r} has neither min nor max",
                                  "Add min (fail below) or max (fail above).")
