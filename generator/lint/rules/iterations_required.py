"""A/B tests and blue/green need a number of iterations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "iterations-required"
SEVERITY = Severity.ERROR
SUMMARY = "abTest and blueGreen strategies must set iterations."
REASON = """\
For A/B testing and blue/green, Flagger counts analysis iterations instead of traffic steps. Without
analysis.iterations the Canary matches neither form of the CRD's analysis oneOf and is rejected, or with steps
left over it becomes a weighted canary, which is not what the spec says
(fluxcd/flagger docs/gitbook/usage/deployment-strategies.md; artifacts/flagger/crd.yaml)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        strategy = spec["strategy"]
        kind = strategy.get("type")
        if kind in ("abTest", "blueGreen") and not strategy.get("iterations"):
            yield ctx.finding(env, ("strategy", "type"), f"a {kind} strategy has no iterations",
                              "Add iterations: the number of analysis runs before promotion, e.g. iterations: 10.")
