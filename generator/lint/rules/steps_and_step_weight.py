"""A canary sets its traffic steps one way: steps or stepWeight, not both."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "steps-and-step-weight"
SEVERITY = Severity.ERROR
SUMMARY = "A canary strategy sets steps or stepWeight, not both."
REASON = """\
Flagger's CRD takes an analysis with exactly one of iterations, stepWeight and stepWeights (fluxcd/flagger
artifacts/flagger/crd.yaml, analysis oneOf), so a Canary with both stepWeight and stepWeights is rejected when Flux
applies it. Were it accepted, the scheduler would mix the two: Controller.nextStepWeight steps by stepWeight whenever
it is set, while Controller.maxWeight promotes at the last of stepWeights and ignores maxWeight (fluxcd/flagger
pkg/controller/scheduler.go), a schedule that neither field describes."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        strategy = spec["strategy"]
        if strategy.get("type") == "canary" and strategy.get("steps") and strategy.get("stepWeight"):
            yield ctx.finding(env, ("strategy", "stepWeight"), "a canary strategy sets both steps and stepWeight",
                              "Keep one: steps lists the weights, stepWeight (with maxWeight) adds the same weight "
                              "each step.")
