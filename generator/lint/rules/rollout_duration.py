"""The whole rollout against the rollout-time target."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...durations import duration, seconds
from ...findings import Finding, Severity
from ...schedule import time_to_promotion

if TYPE_CHECKING:
    from . import Context

ID = "rollout-duration"
SEVERITY = Severity.ERROR
SUMMARY = "The rollout's total duration (rollouts plan's time to promotion) must not exceed policy.maxRolloutTime."
REASON = """\
Flagger's scheduler takes, from the tick that detects a new revision to Succeeded, N + 3 intervals for a canary of N
steps (pre-rollout and the first weight, N - 1 more steps, promotion, routing back, scaling down; with stepWeight, N =
ceil(maxWeight / stepWeight)), I + 3 for A/B and I + 4 for blue/green with I iterations (fluxcd/flagger
pkg/controller/scheduler.go; rollouts plan prints it), and the interval is at least 10 s. The docs' interval x steps
leaves out the promotion's three ticks (argo-rollouts#3569: a canary that took hours). A release that cannot finish in
the time a team allows for it (policy.maxRolloutTime) overlaps the next release or outlasts its change window; Flagger
then restarts the analysis for the newer revision."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        if spec["strategy"]["type"] == "fluxRollback":  # no Flagger analysis (flux-rollback-field-ignored)
            continue
        policy = spec.get("policy")
        limit = policy.get("maxRolloutTime") if policy else None
        if not limit:
            continue
        took = time_to_promotion(spec["strategy"])
        if took > seconds(limit):
            strategy = spec["strategy"]
            field = ("stepWeight" if strategy.get("stepWeight") else "steps") if strategy.get("type") == "canary" \
                else "iterations"
            yield ctx.finding(env, ("strategy", field),
                              f"the rollout takes at least {duration(took)} (rollouts plan's time to promotion), "
                              f"more than maxRolloutTime {limit}",
                              "Use fewer steps or iterations, a shorter interval, or raise policy.maxRolloutTime.")
