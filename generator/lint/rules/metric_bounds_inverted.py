"""A metric whose bounds exclude every value."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "metric-bounds-inverted"
SEVERITY = Severity.ERROR
SUMMARY = "A metric's min must not be greater than its max."
REASON = """\
Flagger fails the check when the value is below min or above max; with min > max every value fails, so every
release is rolled back after `threshold` checks (fluxcd/flagger pkg/controller/scheduler_metrics.go)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        for i, metric in enumerate(spec.get("metrics") or []):
            if "min" in metric and "max" in metric and metric["min"] > metric["max"]:
                yield ctx.finding(env, ("metrics", i, "min"),
                                  f"min {metric['min']} is greater than max {metric['max']}: every value fails",
                                  "Swap the bounds or correct one of them.")
