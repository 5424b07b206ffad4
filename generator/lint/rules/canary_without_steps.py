"""A canary needs traffic steps: steps, or stepWeight."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "canary-without-steps"
SEVERITY = Severity.ERROR
SUMMARY = "A canary strategy must list its traffic steps or set stepWeight."
REASON = """\
Flagger's analysis needs stepWeights (or stepWeight + maxWeight) when it is neither an A/B test nor blue/green
(the iterations form); its CRD only accepts an analysis with one of them, so a canary without steps is rejected
when Flux applies it, or, if iterations are set instead, silently becomes a blue/green rollout
(fluxcd/flagger artifacts/flagger/crd.yaml, analysis oneOf; docs/gitbook/usage/deployment-strategies.md). Here that
is strategy.steps (the weights) or strategy.stepWeight (with strategy.maxWeight, Flagger's default 100)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        strategy = spec["strategy"]
        if strategy.get("type") == "canary" and not strategy.get("steps") and not strategy.get("stepWeight"):
            hint = ("maxWeight needs stepWeight: add it, e.g. stepWeight: 10." if strategy.get("maxWeight") else
                    "Add steps, e.g. steps: [5, 25, 50], or stepWeight, e.g. stepWeight: 10 with maxWeight: 50, "
                    "or choose type: blueGreen with iterations.")
            yield ctx.finding(env, ("strategy", "type"), "a canary strategy has no steps and no stepWeight", hint)
