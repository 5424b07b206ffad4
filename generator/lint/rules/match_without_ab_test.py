"""A match under a canary or blue/green strategy turns the rollout into an A/B test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "match-without-ab-test"
SEVERITY = Severity.ERROR
SUMMARY = "match is for abTest only; under canary or blueGreen Flagger silently switches to A/B testing."
REASON = """\
Flagger infers the strategy: any analysis.match makes the Canary an A/B test, so the canary's traffic steps are
ignored and only matching requests ever reach the new version (fluxcd/flagger#1777). The spec makes the strategy
explicit; a match under another type is a contradiction."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        strategy = spec["strategy"]
        kind = strategy.get("type")
        if kind in ("canary", "blueGreen") and strategy.get("match"):
            yield ctx.finding(env, ("strategy", "match"),
                              f"match under a {kind} strategy makes Flagger run an A/B test",
                              "Remove match, or set type: abTest with iterations.")
