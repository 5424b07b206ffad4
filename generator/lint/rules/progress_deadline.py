"""The progress deadline against the analysis interval and the rollout as a whole."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...durations import duration, seconds
from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "progress-deadline"
SEVERITY = Severity.ERROR
SUMMARY = "progressDeadline must be longer than the analysis interval."
REASON = """\
Flagger rolls back when the canary or primary makes no progress for progressDeadlineSeconds. It only looks at
progress once per analysis interval, so a deadline no longer than the interval rolls back releases whose pods
are still starting, silently: no alert fires for a rollback on the deadline (fluxcd/flagger#1247, #1578, #1663,
#1816; reference pitfall "progressDeadlineSeconds > analysis.interval")."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        if spec["strategy"]["type"] == "fluxRollback":  # no Flagger analysis (flux-rollback-field-ignored)
            continue
        strategy = spec["strategy"]
        deadline = seconds(strategy["progressDeadline"])
        interval = seconds(strategy["interval"])
        if deadline <= interval:
            yield ctx.finding(env, ("strategy", "progressDeadline"),
                              f"progressDeadline {strategy['progressDeadline']} is not longer than the analysis "
                              f"interval {strategy['interval']}",
                              f"Set progressDeadline to several intervals, at least {duration(interval * 2)}.")

