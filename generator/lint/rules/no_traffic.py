"""An analysis without traffic halts on "no values found"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from ...spec.types import Gates
    from . import Context

ID = "no-traffic"
SEVERITY = Severity.ERROR
SUMMARY = "Without a load test, the service must declare steady real traffic (workload.steadyTraffic: true)."
REASON = """\
Flagger's metric queries return nothing for a canary that receives no requests; every check then fails with
"Halt advancement no values found for ... metric" and the release is rolled back, or never advances
(fluxcd/flagger#732, #1689, #883, #1035). A staging environment without users needs gates.loadTest; a service
that always has traffic says so with workload.steadyTraffic."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        if spec["strategy"]["type"] == "fluxRollback":  # no Flagger analysis (flux-rollback-field-ignored)
            continue
        gates: Gates = spec.get("gates") or {}
        if spec["strategy"]["skipAnalysis"] or "loadTest" in gates or spec["workload"]["steadyTraffic"]:
            continue
        yield ctx.finding(env, ("gates",) if "gates" in spec else ("strategy", "type"),
                          "no load test and no declared steady traffic: the metrics will have no data",
                          "Add gates.loadTest, or set workload.steadyTraffic: true if real traffic always flows.")
