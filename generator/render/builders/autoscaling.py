"""How the workload scales and how much of it may be down: HorizontalPodAutoscaler, PodDisruptionBudget."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..model import Built, Service

if TYPE_CHECKING:
    pass
from .release import WORKLOAD


def autoscaler(svc: Service) -> Iterator[Built]:
    """A HorizontalPodAutoscaler when the spec asks for autoscaling (Flagger then scales the primary alike)."""
    autoscaling = svc.spec["workload"].get("autoscaling")
    if autoscaling:
        yield svc.object("autoscaling.yaml", "apps/hpa.yaml.j2", {"autoscaling": autoscaling},
                         "autoscaling/v2", "HorizontalPodAutoscaler", svc.name,
                         {"": (*WORKLOAD, "autoscaling"),
                          "/spec/minReplicas": (*WORKLOAD, "autoscaling", "minReplicas"),
                          "/spec/maxReplicas": (*WORKLOAD, "autoscaling", "maxReplicas")})


def disruption_budget(svc: Service) -> Iterator[Built]:
    budget = svc.spec["workload"]["disruptionBudget"]  # the schema's default {} fills maxUnavailable
    context = {"max_unavailable": budget["maxUnavailable"], "selector": svc.selector}
    yield svc.object("autoscaling.yaml", "apps/pdb.yaml.j2", context, "policy/v1", "PodDisruptionBudget", svc.name,
                     {"": (*WORKLOAD, "disruptionBudget")})
