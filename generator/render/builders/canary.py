"""The Canary: how Flagger shifts traffic (weights, A/B matches, blue/green), on which routes, checked by which
metrics and webhooks, reported to which alerts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ...durations import milliseconds
from ..model import Built, Origin, Service
from .alerts import alerts
from .gates import webhooks
from .metrics import checks
from .release import WORKLOAD

if TYPE_CHECKING:
    from ...spec.types import Match

CLUSTER_DOMAIN = "cluster.local"
STRATEGY: tuple[str, ...] = ("spec", "strategy")


def cookie_regex(name: str, value: str) -> str:
    """Flagger's cookie match on the ``cookie`` header (names and values are [A-Za-z0-9_.-])."""
    return "^(.*?;)?(" + re.escape(name) + "=" + re.escape(value) + ")(;.*)?$"


def match(item: Match) -> dict[str, Any]:
    """One A/B match as Flagger takes it: a cookie becomes a regular expression on the cookie header."""
    out: dict[str, Any] = {}
    headers: dict[str, Any] = dict(item.get("headers") or {})
    cookie = item.get("cookie")
    if cookie:
        headers["cookie"] = {"regex": cookie_regex(str(cookie["name"]), str(cookie["value"]))}
    if headers:
        out["headers"] = headers
    query = item.get("queryParams")
    if query:
        out["queryParams"] = dict(query)
    return out


def analysis(svc: Service) -> dict[str, Any]:
    """The Canary's analysis settings. A canary's traffic steps are Flagger's stepWeights (the listed weights) or
    stepWeight with maxWeight (Flagger adds stepWeight each step until the weight reaches maxWeight, 100 when unset:
    Controller.maxWeight and runCanary in fluxcd/flagger pkg/controller/scheduler.go); maxWeight is rendered only
    with stepWeight, since Flagger reads it only then (with stepWeights the last weight is the maximum)."""
    strategy = svc.spec["strategy"]
    affinity = strategy.get("sessionAffinity")
    step = strategy.get("stepWeight")
    return {
        "type": strategy["type"], "provider": strategy["provider"],
        "progressDeadlineSeconds": milliseconds(str(strategy["progressDeadline"])) // 1000,
        "skipAnalysis": bool(strategy.get("skipAnalysis")), "timeout": strategy.get("timeout"),
        "interval": strategy["interval"], "threshold": strategy["threshold"],
        "steps": strategy.get("steps") or [], "iterations": strategy.get("iterations"),
        "stepWeight": step, "maxWeight": strategy.get("maxWeight") if step is not None else None,
        "match": [match(m) for m in strategy.get("match") or []],
        "mirror": bool(strategy.get("mirror")), "sessionAffinity": dict(affinity) if affinity else None,
    }


def routes(svc: Service) -> tuple[list[dict[str, Any]], list[str]]:
    """The parents and hostnames of the HTTPRoute Flagger makes.

    Flagger's one HTTPRoute carries every parent (pkg/router/gateway_api_v1beta1.go: parentRefs = gatewayRefs,
    hostnames = hosts): the mesh Service for east-west traffic, and the ingress Gateway, which then splits
    north-south traffic itself. Linkerd applies the hostnames to the Service parent too (the proxy matches the
    request's host), so the Service's in-cluster names are listed with the public ones."""
    name, namespace = svc.name, svc.namespace
    parents: list[dict[str, Any]] = [{"name": name, "namespace": namespace, "group": "core", "kind": "Service",
                                      "port": svc.port}]
    ingress = svc.spec.get("ingress")
    if not ingress:
        return parents, []
    gateway = ingress["gateway"]
    parents.append({"name": gateway["name"], "namespace": gateway["namespace"],
                    "group": "gateway.networking.k8s.io", "kind": "Gateway",
                    **({"sectionName": gateway["sectionName"]} if "sectionName" in gateway else {})})
    local = [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.{CLUSTER_DOMAIN}"]
    return parents, [*ingress["hosts"], *(h for h in local if h not in ingress["hosts"])]


def canary(svc: Service) -> Iterator[Built]:
    workload = svc.spec["workload"]
    metrics = [c.analysis for c in svc.part(checks)]
    hooks = webhooks(svc)
    notified = svc.part(alerts)
    parents, hosts = routes(svc)
    context = {"canary": analysis(svc), "metrics": metrics, "webhooks": hooks, "alerts": notified,
               "parents": parents, "hosts": hosts, "port": svc.port, "port_name": workload["portName"],
               "autoscaling": workload.get("autoscaling")}
    origin: Origin = {
        "": STRATEGY, "/spec/provider": (*STRATEGY, "provider"), "/spec/analysis/interval": (*STRATEGY, "interval"),
        "/spec/analysis/threshold": (*STRATEGY, "threshold"), "/spec/analysis/stepWeights": (*STRATEGY, "steps"),
        "/spec/analysis/stepWeight": (*STRATEGY, "stepWeight"), "/spec/analysis/maxWeight": (*STRATEGY, "maxWeight"),
        "/spec/analysis/iterations": (*STRATEGY, "iterations"), "/spec/analysis/match": (*STRATEGY, "match"),
        "/spec/progressDeadlineSeconds": (*STRATEGY, "progressDeadline"), "/spec/service/port": (*WORKLOAD, "port"),
        "/spec/service/timeout": (*STRATEGY, "timeout"),
        "/spec/analysis/sessionAffinity": (*STRATEGY, "sessionAffinity"),
    }
    if svc.spec.get("ingress"):
        origin["/spec/service/gatewayRefs/1"] = ("spec", "ingress", "gateway")
        origin["/spec/service/hosts"] = ("spec", "ingress", "hosts")
    for i, m in enumerate(metrics):
        origin[f"/spec/analysis/metrics/{i}"] = m["origin"]
    for i, w in enumerate(hooks):
        origin[f"/spec/analysis/webhooks/{i}"] = ("spec", *w["origin"])
    for i, a in enumerate(notified):
        origin[f"/spec/analysis/alerts/{i}"] = ("spec", "alerts", a["index"])
    yield svc.object("canary.yaml", "apps/canary.yaml.j2", context, "flagger.app/v1beta1", "Canary", svc.name, origin)
