"""An A/B test needs a match."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "ab-test-without-match"
SEVERITY = Severity.ERROR
SUMMARY = "An abTest strategy must say which requests go to the canary (match)."
REASON = """\
Flagger decides that a Canary is an A/B test from the presence of analysis.match: without one, an abTest
with iterations is run as blue/green and all traffic switches at promotion, untested on real users
(fluxcd/flagger#1777; pkg/controller/scheduler.go, the strategy is inferred, never declared)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        strategy = spec["strategy"]
        if strategy.get("type") == "abTest" and not strategy.get("match"):
            yield ctx.finding(env, ("strategy", "type"), "an abTest strategy has no match",
                              "Add match: [{headers: {x-canary: {exact: insider}}}] or a cookie match.")
