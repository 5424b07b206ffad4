"""A fixed replica count next to an autoscaler."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "replicas-with-autoscaling"
SEVERITY = Severity.WARNING
SUMMARY = "replicas is ignored when autoscaling is set; the HPA owns the replica count."
REASON = """\
When a Deployment targeted by an HPA also carries spec.replicas, Flux resets the count at every reconciliation,
fighting the HPA and scaling the canary back up after Flagger scaled it to zero (fluxcd/flagger#1121, #1158, #1575,
#1399; kube-score deployment-targeted-by-hpa-does-not-have-replicas-configured). The generator therefore sets no
replica count when autoscaling is set, and a replicas value in the spec does nothing."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        if spec["workload"].get("autoscaling") is None:
            continue
        here = ctx.spec.get(("spec", "environments", env, "workload", "replicas"))
        if here is not None or ctx.spec.get(("spec", "workload", "replicas")) is not None:
            yield ctx.finding(env, ("workload", "replicas"), "replicas is ignored because autoscaling is set",
                              "Remove replicas; set autoscaling.minReplicas instead.")
