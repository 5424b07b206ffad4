"""The whole rollout against the rollout-time target."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...durations import duration, seconds
from ...findings import Finding, Severity

if TYPE_CHECKING:
    from ...spec.types import Strategy
    from . import Context

ID = "rollout-duration"
SEVERITY = Severity.ERROR
SUMMARY = "The rollout's total duration must not exceed policy.maxRolloutTime, when set."
REASON = """\
A Flagger rollout takes one analysis interval per traffic step plus one to promote (interval x (steps + 1)), or one
interval per iteration for A/B and blue/green (fluxcd/flagger docs/gitbook/usage/deployment-strategies.md). A
release that cannot finish in the time a team allows for it (policy.maxRolloutTime) overlaps the next release
or outlasts its change window; Flagger then restarts the analysis for the newer revision."""


def total(strategy: Strategy) -> float:
    """Seconds from the first analysis to promotion, without waiting gates."""
    interval = seconds(str(strategy["interval"]))
    if strategy.get("type") == "canary":
        steps = strategy.get("steps") or []
        return interval * (len(steps) + 1) if isinstance(steps, list) else interval
    iterations = strategy.get("iterations") or 1
    return interval * (iterations if isinstance(iterations, int) else 1)


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        policy = spec.get("policy")
        limit = policy.get("maxRolloutTime") if policy else None
        if not limit:
            continue
        took = total(spec["strategy"])
        if took > seconds(limit):
            field = "steps" if spec["strategy"].get("type") == "canary" else "iterations"
            yield ctx.finding(env, ("strategy", field),
                              f"the rollout takes at least {duration(took)}, more than maxRolloutTime {limit}",
                              "Use fewer steps or iterations, a shorter interval, or raise policy.maxRolloutTime.")
