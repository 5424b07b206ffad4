"""The workload: its chart's source (HelmRepository or OCIRepository), the HelmRelease that installs it, and under
fluxRollback (Flux alone, no Flagger) the HTTPRoute from the ingress Gateway that Flagger would otherwise make."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ...spec.resolve import deep_merge
from ..model import Built, Origin, Service

WORKLOAD: tuple[str, ...] = ("spec", "workload")
EXACT_VERSION = re.compile(r"v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?")


def chart(svc: Service) -> dict[str, Any]:
    """Where the chart comes from: an OCI repository (by tag, or by semver range) or a Helm repository."""
    spec = svc.spec["workload"]["chart"]
    url = str(spec["repository"])
    version = str(spec["version"])
    oci = url.startswith("oci://")
    exact = EXACT_VERSION.fullmatch(version) is not None
    name = spec.get("name") or url.rstrip("/").rsplit("/", 1)[-1]
    return {"oci": oci, "url": url, "version": version, "ref_kind": "tag" if exact else "semver",
            "name": name, "kind": "OCIRepository" if oci else "HelmRepository"}


def values(svc: Service) -> dict[str, Any]:
    """The chart's values: the spec's, with the name, the image and (without autoscaling) the replica count."""
    workload = svc.spec["workload"]
    given: dict[str, Any] = dict(workload.get("values") or {})
    generated: dict[str, Any] = {"fullnameOverride": svc.name}
    image = workload.get("image")
    if image:
        generated["image"] = {"repository": image["repository"], "tag": image["tag"]}
    if workload.get("autoscaling"):
        given.pop("replicaCount", None)
    else:
        generated["replicaCount"] = int(workload["replicas"])
    return deep_merge(given, generated)


def chart_source(svc: Service) -> Iterator[Built]:
    source = svc.part(chart)
    origin: Origin = {"": (*WORKLOAD, "chart"), "/spec/url": (*WORKLOAD, "chart", "repository"),
                      "/spec/ref": (*WORKLOAD, "chart", "version")}
    yield svc.object("release.yaml", f"apps/{source['kind'].lower()}.yaml.j2", {"chart": source},
                     "source.toolkit.fluxcd.io/v1", source["kind"], svc.name, origin)


def flux_alone(svc: Service) -> bool:
    """fluxRollback: Flux's helm-controller releases and rolls back; no Flagger object is rendered."""
    return svc.spec["strategy"]["type"] == "fluxRollback"


def rollback(svc: Service) -> dict[str, Any] | None:
    """fluxRollback's remediation (fluxcd/helm-controller api/v2/helmrelease_types.go at v1.6.3): every Helm
    operation bounded by releaseTimeout (spec.timeout, which the tests also take when test.timeout is unset); the
    chart's tests after each install and upgrade (test.enable); a failed upgrade or test rolled back
    (upgrade.remediation.strategy rollback, the default, written out) and retried ``retries`` times.
    remediateLastFailure is written too: it defaults to false when retries is 0 (MustRemediateLastFailure), and the
    last failure would then stay released."""
    if not flux_alone(svc):
        return None
    strategy = svc.spec["strategy"]
    return {"timeout": strategy["releaseTimeout"], "retries": int(strategy["retries"])}


def helm_release(svc: Service) -> Iterator[Built]:
    origin: Origin = {"": WORKLOAD, "/spec/values": (*WORKLOAD, "values"),
                      "/spec/chart/spec/version": (*WORKLOAD, "chart", "version"),
                      "/spec/values/image": (*WORKLOAD, "image"), "/spec/values/replicaCount": (*WORKLOAD, "replicas"),
                      "/spec/timeout": ("spec", "strategy", "releaseTimeout"),
                      "/spec/upgrade/remediation/retries": ("spec", "strategy", "retries"),
                      "/spec/test": (*WORKLOAD, "chart", "tests")}
    context = {"chart": svc.part(chart), "values": values(svc), "rollback": rollback(svc)}
    yield svc.object("release.yaml", "apps/helmrelease.yaml.j2", context, "helm.toolkit.fluxcd.io/v2", "HelmRelease",
                     svc.name, origin)


def ingress_route(svc: Service) -> Iterator[Built]:
    """fluxRollback with an ingress: the Gateway's route to the Service the chart makes (under Flagger, the Canary's
    HTTPRoute carries it)."""
    ingress = svc.spec.get("ingress")
    if not flux_alone(svc) or not ingress:
        return
    gateway = ingress["gateway"]
    parent = {"name": gateway["name"], "namespace": gateway["namespace"], "group": "gateway.networking.k8s.io",
              "kind": "Gateway", **({"sectionName": gateway["sectionName"]} if "sectionName" in gateway else {})}
    context = {"parents": [parent], "hosts": list(ingress["hosts"]), "port": svc.port}
    yield svc.object("route.yaml", "apps/httproute.yaml.j2", context, "gateway.networking.k8s.io/v1", "HTTPRoute",
                     svc.name, {"": ("spec", "ingress")})
