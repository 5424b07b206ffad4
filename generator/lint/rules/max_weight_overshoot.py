"""A stepWeight that does not divide maxWeight takes the canary past maxWeight."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity
from ...schedule import max_weight, overshoot, weights

if TYPE_CHECKING:
    from . import Context

ID = "max-weight-overshoot"
SEVERITY = Severity.WARNING
SUMMARY = "A canary's last stepWeight step must not pass maxWeight: choose a stepWeight that divides it."
REASON = """\
Flagger raises the canary's weight by stepWeight while the weight is below maxWeight, capped at 100, and promotes once
it is at least maxWeight (runCanary and Controller.maxWeight in fluxcd/flagger pkg/controller/scheduler.go), so the
weights are min(100, i x stepWeight) for i = 1..ceil(maxWeight / stepWeight): maxWeight 50 with stepWeight 20 gives
20, 40, 60, as Flagger's own docs show (fluxcd/flagger docs/gitbook/usage/deployment-strategies.md, Rollout
Weights). The last step sends more users to the new version than maxWeight says, and the docs' promotion time,
interval x (maxWeight / stepWeight), rounds the extra step away."""


def _divisors(top: int, near: int) -> list[int]:
    """The divisors of ``top`` just below (or at) and just above ``near``."""
    below = max(d for d in range(1, min(near, top) + 1) if top % d == 0)
    above = [d for d in range(near + 1, top + 1) if top % d == 0][:1]
    return [*above, below]


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        strategy = spec["strategy"]
        if strategy.get("type") != "canary" or not strategy.get("stepWeight") or strategy.get("steps"):
            continue  # steps and stepWeight both: steps-and-step-weight
        last = overshoot(strategy)
        if not last:
            continue
        step, top = int(strategy["stepWeight"]), max_weight(strategy)
        shown = ", ".join(str(w) for w in weights(strategy))
        options = " or ".join(f"stepWeight: {d} ({top // d} step{'s' if top // d > 1 else ''})"
                              for d in _divisors(top, step))
        yield ctx.finding(env, ("strategy", "stepWeight"),
                          f"stepWeight {step} takes the canary to {last}%, past maxWeight {top}%: its weights are "
                          f"{shown}, then promotion",
                          f"Use a stepWeight that divides maxWeight, e.g. {options}, or set maxWeight: {last}.")
