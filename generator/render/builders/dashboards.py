"""The service's Grafana dashboard (render/dashboards.py) in a ConfigMap that Grafana's dashboard sidecar loads
(label ``grafana_dashboard: "1"``; the sidecar must watch the service's namespace, ``searchNamespace: ALL`` in the
Grafana chart)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any

from ..dashboards import Subject, dashboard_uid, encode, overview_dashboard, service_dashboard
from ..engine import Doc, Expected
from ..infra import object_name
from ..model import Built, Service
from .controller import LABELS, NAMESPACE
from .release import flux_alone

SIDECAR_LABEL = {"grafana_dashboard": "1"}


def subject(svc: Service) -> Subject:
    """The SLO the budget panels judge: policy.errorBudget (objective, window) when set, else slo.successRate over
    30 days (the error budget's default window); a fluxRollback service's dashboard shows its one Deployment and its
    HelmRelease instead of canary, primary and Flagger."""
    spec: Any = svc.spec
    budget = (spec.get("policy") or {}).get("errorBudget") or {}
    objective = budget.get("objective", (spec.get("slo") or {}).get("successRate"))
    flows = tuple(str(f["name"]) for f in (spec.get("probes") or {}).get("flows") or [])
    return Subject(svc.name, svc.environment, svc.namespace, objective, str(budget.get("window", "30d")), flows,
                   flux_alone(svc))


# The dashboards of services with the same SLO, window and probe flows differ only in their names, DNS labels, which
# JSON and PromQL hold as they are: each shape is built once, with placeholders, and the names put in (one pass, so
# a name is never read as a placeholder). tests/render/test_dashboards.py holds it equal to a direct build.
PLACEHOLDERS = Subject("zq0service0qz", "zq0environment0qz", "zq0namespace0qz", None, "", ())
_UID = "zq0uid0qz"
_NAMES = re.compile("zq0(?:service|environment|namespace|uid)0qz")


@lru_cache(maxsize=64)
def _shape(objective: float | None, window: str, flows: tuple[str, ...], flux_alone: bool) -> str:
    return encode(service_dashboard(replace(PLACEHOLDERS, objective=objective, window=window, flows=flows,
                                            flux_alone=flux_alone), uid=_UID))


def dashboard_json(s: Subject) -> str:
    """The service's dashboard as its ConfigMap holds it: ``encode(service_dashboard(s))``, from its shape."""
    names = {PLACEHOLDERS.service: s.service, PLACEHOLDERS.environment: s.environment,
             PLACEHOLDERS.namespace: s.namespace, _UID: dashboard_uid(s)}
    return _NAMES.sub(lambda m: names[m.group()], _shape(s.objective, s.window, s.flows, s.flux_alone))


def dashboard_configmap(svc: Service) -> Iterator[Built]:
    name = f"{svc.name}-dashboard"
    board = {"name": name, "labels": {**svc.context["labels"], **SIDECAR_LABEL},
             "file": f"rollouts-{svc.environment}-{svc.name}.json", "json": dashboard_json(subject(svc))}
    yield svc.object("dashboard.yaml", "apps/dashboard.yaml.j2", {"dashboard": board}, "v1", "ConfigMap",
                     name, {"": ("spec", "slo")})


def overview_configmap(environment: str, namespaces: Mapping[str, str]) -> Doc:
    """The environment's overview (every service's canary status and weight), beside the analysis controller
    (``namespaces``: "<env>/<service>" -> namespace of the environment's services)."""
    name = overview_name(environment)
    board = {"name": name, "labels": {**LABELS, **SIDECAR_LABEL, "rollouts.dev/environment": environment},
             "file": f"rollouts-{environment}-overview.json",
             "json": encode(overview_dashboard(environment, namespaces))}
    return Doc("apps/dashboard.yaml.j2", {"dashboard": board, "namespace": NAMESPACE},
               Expected("v1", "ConfigMap", name, NAMESPACE))


def overview_name(environment: str) -> str:
    """The overview's ConfigMap: one per environment, all in flagger-system, each applied by its environment's
    Kustomization (one name for all would be applied, and pruned, by each of them)."""
    return object_name(f"rollouts-overview-{environment}")
