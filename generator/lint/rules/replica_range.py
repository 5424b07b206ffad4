"""The autoscaler range must not be empty."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "replica-range"
SEVERITY = Severity.ERROR
SUMMARY = "autoscaling.maxReplicas must be at least minReplicas."
REASON = """\
The Kubernetes API rejects a HorizontalPodAutoscaler whose maxReplicas is below minReplicas, so the Flux
Kustomization of the service fails to apply and Flagger, whose autoscalerRef points at the missing HPA, cannot
create the primary's HPA (fluxcd/flagger docs/gitbook/usage/how-it-works.md, autoscalerRef)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        autoscaling = spec["workload"].get("autoscaling")
        if autoscaling is not None and autoscaling["maxReplicas"] < autoscaling["minReplicas"]:
            yield ctx.finding(env, ("workload", "autoscaling", "maxReplicas"),
                              f"maxReplicas {autoscaling['maxReplicas']} is below minReplicas "
                              f"{autoscaling['minReplicas']}",
                              "Raise maxReplicas to at least minReplicas.")
