"""At least two replicas, autoscaled or not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "min-replicas"
SEVERITY = Severity.WARNING
SUMMARY = "Run at least 2 replicas (autoscaling.minReplicas, or replicas when not autoscaled)."
REASON = """\
With one replica, a node drain or an eviction takes the service down, and during a rollout the primary that
Flagger keeps serving is that single pod; the PodDisruptionBudget then either blocks the drain or allows the outage.
Polaris hpaMinAvailability and deploymentMissingReplicas, kube-score horizontalpodautoscaler-replicas and
deployment-replicas all ask for 2 (reference validation.md section 5, items 7 and 8; Flagger how-it-works.md
on primaryScalerReplicas)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        workload = spec["workload"]
        autoscaling = workload.get("autoscaling")
        if autoscaling is not None:
            if autoscaling["minReplicas"] < 2:
                yield ctx.finding(env, ("workload", "autoscaling", "minReplicas"),
                                  f"minReplicas is {autoscaling['minReplicas']}; one pod is one point of failure",
                                  "Set autoscaling.minReplicas to 2 or more.")
        elif workload["replicas"] < 2:
            yield ctx.finding(env, ("workload", "replicas"),
                              f"replicas is {workload['replicas']}; one pod is one point of failure",
                              "Set replicas to 2 or more, or add autoscaling.")
