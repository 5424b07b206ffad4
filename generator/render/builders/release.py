"""The workload: its chart's source (HelmRepository or OCIRepository) and the HelmRelease that installs it."""

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


def helm_release(svc: Service) -> Iterator[Built]:
    origin: Origin = {"": WORKLOAD, "/spec/values": (*WORKLOAD, "values"),
                      "/spec/chart/spec/version": (*WORKLOAD, "chart", "version"),
                      "/spec/values/image": (*WORKLOAD, "image"), "/spec/values/replicaCount": (*WORKLOAD, "replicas")}
    yield svc.object("release.yaml", "apps/helmrelease.yaml.j2", {"chart": svc.part(chart), "values": values(svc)},
                     "helm.toolkit.fluxcd.io/v2", "HelmRelease", svc.name, origin)
