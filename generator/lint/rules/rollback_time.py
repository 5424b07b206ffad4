"""Worst-case time from a bad version's first bad request to its rollback, against the rollback-time target."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...durations import duration, seconds
from ...findings import Finding, Severity
from ...schedule import SCRAPE_INTERVAL, detection, release_rollback
from ...spec.schema import schema

if TYPE_CHECKING:
    from . import Context

ID = "rollback-time"
SEVERITY = Severity.ERROR
SUMMARY = ("The worst case from a bad version's first bad request to its rollback (rollouts plan's figure: threshold "
           "x interval + the longest metric window + the scrape interval + one interval) must not exceed "
           "policy.maxRollbackTime (default 5m).")
REASON = """\
Flagger rolls back after `threshold` failed checks, one check per interval (fluxcd/flagger
docs/gitbook/usage/how-it-works.md, analysis), but the first check can fail only once the metric shows the bad
version: its window must fill with bad requests, the next scrape must see them, and the next tick must come.
interval x threshold alone understates the time a bad version serves traffic by that much (a 2m window and a 1m
interval add 3m10s). The rule holds every environment to its rollback-time target, policy.maxRollbackTime, 5
minutes unless the spec says otherwise, computed as rollouts plan computes it. Under fluxRollback, Flux's
helm-controller rolls back once the upgrade or a Helm test fails, each allowed strategy.releaseTimeout (HelmRelease
spec.timeout; fluxcd/helm-controller internal/reconcile/atomic_release.go): (1 + tests) x releaseTimeout."""


def _default_target() -> str:
    """policy.maxRollbackTime of a spec without policy: the schema's default, its one source."""
    target: str = schema()["definitions"]["policy"]["properties"]["maxRollbackTime"]["default"]
    return target


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        strategy = spec["strategy"]
        target = spec["policy"]["maxRollbackTime"] if "policy" in spec else _default_target()
        if strategy["type"] == "fluxRollback":
            worst = release_rollback(spec)
            if worst > seconds(target):
                tests = len(spec["workload"].get("chart", {}).get("tests") or [])
                yield ctx.finding(env, ("strategy", "releaseTimeout"),
                                  f"a failing release is rolled back up to {duration(worst)} after its first request "
                                  f"(the upgrade and {tests} Helm test(s), each up to releaseTimeout "
                                  f"{strategy['releaseTimeout']}), more than maxRollbackTime {target}",
                                  "Lower strategy.releaseTimeout, or raise policy.maxRollbackTime.")
            continue
        worst, window_name, window = detection(spec)
        if worst > seconds(target):
            parts = f"threshold {strategy['threshold']} x interval {strategy['interval']}"
            if window:
                parts += f" + the {duration(window)} window of {window_name}"
            yield ctx.finding(env, ("strategy", "threshold"),
                              f"a failing release is rolled back up to {duration(worst)} after its first bad request "
                              f"({parts} + the {duration(SCRAPE_INTERVAL)} scrape + one interval), more than "
                              f"maxRollbackTime {target}",
                              "Lower the threshold, the interval or the longest metric window, or raise "
                              "policy.maxRollbackTime.")
