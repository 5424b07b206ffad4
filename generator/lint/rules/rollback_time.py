"""Worst-case time to abort a bad release against the rollback-time target."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...durations import duration, seconds
from ...findings import Finding, Severity
from ...spec.schema import schema

if TYPE_CHECKING:
    from . import Context

ID = "rollback-time"
SEVERITY = Severity.ERROR
SUMMARY = "interval x threshold (the worst-case time to abort) must not exceed policy.maxRollbackTime (default 5m)."
REASON = """\
Flagger rolls back after `threshold` failed checks, one check per interval, so a bad version serves its share of
traffic for up to interval x threshold before the rollback starts (fluxcd/flagger docs/gitbook/usage/how-it-works.md,
analysis). Teams rarely multiply the two; the rule holds every environment to its rollback-time target,
policy.maxRollbackTime, 5 minutes unless the spec says otherwise."""


def _default_target() -> str:
    """policy.maxRollbackTime of a spec without policy: the schema's default, its one source."""
    target: str = schema()["definitions"]["policy"]["properties"]["maxRollbackTime"]["default"]
    return target


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        strategy = spec["strategy"]
        worst = seconds(strategy["interval"]) * strategy["threshold"]
        target = spec["policy"]["maxRollbackTime"] if "policy" in spec else _default_target()
        if worst > seconds(target):
            yield ctx.finding(env, ("strategy", "threshold"),
                              f"a failing release is rolled back only after {duration(worst)} "
                              f"(interval {strategy['interval']} x threshold {strategy['threshold']}), "
                              f"more than maxRollbackTime {target}",
                              "Lower the threshold or the interval, or raise policy.maxRollbackTime.")
