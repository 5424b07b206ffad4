"""Fields that the chosen strategy ignores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "strategy-field-ignored"
SEVERITY = Severity.WARNING
SUMMARY = "steps under abTest/blueGreen, or iterations under canary, are ignored."
REASON = """\
Flagger uses stepWeights for a weighted canary and iterations for A/B and blue/green, never both; a field the
strategy does not use has no effect, and a reader of the spec is misled about how long the rollout takes
(fluxcd/flagger docs/gitbook/usage/deployment-strategies.md)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        strategy = spec["strategy"]
        kind = strategy.get("type")
        if kind == "canary" and strategy.get("iterations"):
            yield ctx.finding(env, ("strategy", "iterations"), "iterations is ignored by a canary strategy",
                              "Remove iterations; a canary promotes after its last step.")
        if kind in ("abTest", "blueGreen") and strategy.get("steps"):
            yield ctx.finding(env, ("strategy", "steps"), f"steps are ignored by a {kind} strategy",
                              "Remove steps; this strategy runs for a number of iterations.")
