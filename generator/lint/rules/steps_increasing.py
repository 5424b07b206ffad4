"""Canary traffic steps (strategy.steps) must increase strictly and end at or below 100."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "steps-increasing"
SEVERITY = Severity.ERROR
SUMMARY = "Canary traffic steps must increase strictly and stay at or below 100."
REASON = """\
Flagger's stepWeights are applied in order; a step that does not increase the canary's weight makes an
iteration that shifts no traffic, or moves traffic back to the primary, and the promotion time no longer matches
what the spec suggests. Flagger does not reject such lists (its controller validates nothing beyond the CRD
schema: fluxcd/flagger pkg/controller/controller.go verifyCanary), so the mistake shows up as a slow or odd
rollout in production. stepWeight needs no such check: its weights, min(100, i x stepWeight), always increase
(fluxcd/flagger pkg/controller/scheduler.go runCanary)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        strategy = spec.get("strategy", {})
        steps = strategy.get("steps") or []
        if strategy.get("type") != "canary":
            continue
        for i in range(1, len(steps)):
            if steps[i] <= steps[i - 1]:
                yield ctx.finding(env, ("strategy", "steps", i),
                                  f"step {steps[i]} does not increase on the step before it ({steps[i - 1]})",
                                  "List the traffic weights in increasing order, e.g. [5, 25, 50].")
