"""A fluxRollback service whose chart names no Helm test: nothing but readiness can fail its release."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "flux-rollback-without-tests"
SEVERITY = Severity.ERROR
SUMMARY = "A fluxRollback service must name its chart's Helm tests (workload.chart.tests)."
REASON = """\
With fluxRollback, Flux's helm-controller runs `helm test` after each upgrade and rolls back when a test fails
(HelmRelease test.enable, upgrade.remediation). A chart without test hooks passes that step vacuously: the Test
reconciler marks TestSuccess=True with "no test hooks" (fluxcd/helm-controller internal/reconcile/test.go, v1.6.3),
so a version that starts and answers its readiness probe but serves errors is kept. Name the chart's tests (its
helm.sh/hook: test resources) in workload.chart.tests, or use a Flagger strategy, which checks live metrics."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        if spec["strategy"]["type"] != "fluxRollback":
            continue
        chart = spec["workload"].get("chart")
        if chart is not None and not chart.get("tests"):
            yield ctx.finding(env, ("workload", "chart"),
                              "fluxRollback rolls back on a failed Helm test, but workload.chart names no test: "
                              "helm-controller passes a chart without tests, and a broken version is kept",
                              "List the chart's Helm tests in workload.chart.tests (the names of its "
                              "helm.sh/hook: test resources), or choose a canary strategy.")
