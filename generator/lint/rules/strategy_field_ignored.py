"""Fields that the chosen strategy ignores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "strategy-field-ignored"
SEVERITY = Severity.WARNING
SUMMARY = ("steps, stepWeight or maxWeight under abTest/blueGreen, maxWeight without stepWeight, or iterations "
           "under canary, are ignored.")
REASON = """\
Flagger uses stepWeights (or stepWeight and maxWeight) for a weighted canary and iterations for A/B and blue/green,
never both; a field the strategy does not use has no effect, and a reader of the spec is misled about how long the
rollout takes (fluxcd/flagger docs/gitbook/usage/deployment-strategies.md). maxWeight counts only with stepWeight:
with stepWeights, Flagger's Controller.maxWeight takes the last of them and never reads maxWeight (fluxcd/flagger
pkg/controller/scheduler.go), so the render leaves it out."""

WEIGHTED = ("steps", "stepWeight", "maxWeight")


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        strategy = spec["strategy"]
        kind = strategy.get("type")
        if kind == "canary" and strategy.get("iterations"):
            yield ctx.finding(env, ("strategy", "iterations"), "iterations is ignored by a canary strategy",
                              "Remove iterations; a canary promotes after its last step.")
        if kind == "canary" and strategy.get("maxWeight") and strategy.get("steps") and not strategy.get("stepWeight"):
            yield ctx.finding(env, ("strategy", "maxWeight"), "maxWeight is ignored without stepWeight",
                              f"Remove maxWeight; with steps the last step ({strategy['steps'][-1]}) is the canary's "
                              "maximum weight. Or replace steps by stepWeight.")
        if kind in ("abTest", "blueGreen"):
            for field in WEIGHTED:
                if strategy.get(field):
                    verb = "are" if field == "steps" else "is"
                    yield ctx.finding(env, ("strategy", field), f"{field} {verb} ignored by a {kind} strategy",
                                      f"Remove {field}; this strategy runs for a number of iterations.")
