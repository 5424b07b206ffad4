"""A judge window too short to hold two scrapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...durations import seconds
from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "judge-window-short"
SEVERITY = Severity.WARNING
SUMMARY = "The judge's window must be at least 1m: twice a 30s scrape interval."
REASON = """\
The analysis controller's judge compares canary and primary with PromQL over judge.window; rate() needs two
samples inside its window, so a window shorter than twice the Prometheus scrape interval often returns nothing,
and the judge answers with its noData verdict instead of a comparison (the same pitfall as Flagger's metric
intervals, fluxcd/flagger#1689). The rule assumes a scrape interval of 30s, like metric-window-no-data."""

MINIMUM = 60


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        judge = spec.get("judge")
        if judge is not None and seconds(judge["window"]) < MINIMUM:
            yield ctx.finding(env, ("judge", "window"),
                              f"judge window {judge['window']} is shorter than two scrapes (2 x 30s); the queries "
                              "may return no data", "Use 1m or more (5m gives a steadier comparison).")
