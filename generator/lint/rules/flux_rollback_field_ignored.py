"""Sections and fields that only Flagger reads, in a fluxRollback spec; fluxRollback's own fields elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "flux-rollback-field-ignored"
SEVERITY = Severity.WARNING
SUMMARY = ("Under fluxRollback nothing runs Flagger's analysis: gates, probes, judge, metrics, alerts, "
           "notifications and the policy's checks are ignored; retries and releaseTimeout count only there.")
REASON = """\
fluxRollback renders no Canary: Flux's helm-controller upgrades the release and rolls it back on a failed upgrade
or Helm test (HelmRelease upgrade.remediation, fluxcd/helm-controller api/v2/helmrelease_types.go), so nothing
calls the gates' webhooks, queries the metrics, or asks the analysis controller about windows, freezes, the error
budget or an approval (Flagger's webhooks, fluxcd/flagger pkg/controller/scheduler.go). A reader of the spec would
believe the release is checked by them. strategy.retries and strategy.releaseTimeout set the HelmRelease's
remediation and timeout, which only fluxRollback renders: under Flagger the Canary decides."""

SECTIONS = ("gates", "probes", "judge", "metrics", "alerts", "notifications")
POLICY = ("changeWindows", "freezes", "errorBudget", "approval")
FLAGGER_STRATEGY = ("steps", "stepWeight", "maxWeight", "iterations", "match", "sessionAffinity", "timeout", "mirror",
                    "skipAnalysis")
DEFAULTS: dict[str, Any] = {"retries": 0, "releaseTimeout": "2m"}


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        strategy = spec["strategy"]
        if strategy["type"] != "fluxRollback":
            for field, default in DEFAULTS.items():
                if strategy.get(field, default) != default:
                    yield ctx.finding(env, ("strategy", field), f"strategy.{field} counts only under fluxRollback",
                                      f"Remove {field}; a {strategy['type']} release is rolled back by Flagger.")
            continue
        hint = "Remove it, or choose a canary, abTest or blueGreen strategy, which Flagger runs."
        for section in SECTIONS:
            if spec.get(section):
                yield ctx.finding(env, (section,), f"{section} is ignored: fluxRollback runs no Flagger analysis",
                                  hint)
        policy: dict[str, Any] = dict(spec.get("policy") or {})
        for field in POLICY:
            if policy.get(field):
                yield ctx.finding(env, ("policy", field),
                                  f"policy.{field} is ignored: fluxRollback asks no analysis controller", hint)
        for field in FLAGGER_STRATEGY:
            if strategy.get(field):
                yield ctx.finding(env, ("strategy", field), f"strategy.{field} is ignored by fluxRollback", hint)
