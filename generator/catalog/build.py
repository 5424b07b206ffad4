"""``rollouts schemas build``: layer catalogs, Kubernetes core kinds and CRDs into one catalog directory.

Layers, later wins on the same ``<group>/<kind>_<version>.json``: existing catalogs (``--catalog``, in order), then
the Kubernetes core kinds of the chosen version (kubernetes-validate), then CRDs (``--crds``, the most specific).
The directory is written beside the target and swapped in, so an interrupted build leaves the old catalog whole.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from ..errors import RolloutsError
from ..findings import Finding
from ..workdir import makedirs
from . import crd, kubernetes
from .layout import INDEX_FILE

_NAME = re.compile(r"[a-z0-9.-]+_[a-z0-9]+\.json")


@dataclass
class BuildReport:
    out: str
    counts: dict[str, int] = field(default_factory=dict)  # source -> schemas it contributed
    total: int = 0
    kubernetes_version: str = ""
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _catalog_files(catalog: str) -> dict[str, str]:
    """``<group>/<kind>_<version>.json`` -> absolute file, for a directory in kubeconform layout."""
    if not os.path.isdir(catalog):
        raise RolloutsError(f"{catalog}: not a directory", "Pass a catalog in <group>/<kind>_<version>.json layout.")
    base = catalog
    if not os.path.exists(os.path.join(base, INDEX_FILE)) and os.path.isdir(os.path.join(base, "latest")):
        base = os.path.join(base, "latest")  # a flux-schema checkout
    found: dict[str, str] = {}
    for group in sorted(os.listdir(base)):
        gdir = os.path.join(base, group)
        if not os.path.isdir(gdir) or group.startswith("."):
            continue
        for name in sorted(os.listdir(gdir)):
            if _NAME.fullmatch(name):
                found[f"{'core' if group == 'v1' else group}/{name}"] = os.path.join(gdir, name)
    if not found:
        raise RolloutsError(f"{catalog}: no schemas in <group>/<kind>_<version>.json layout",
                            "Pass a kubeconform catalog such as the flux-schema catalog (catalog/latest).")
    return found


def _dump(schema: dict[str, Any]) -> bytes:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def build(out: str, kubernetes_version: str | None = "1.34", crds: list[str] | None = None,
          catalogs: list[str] | None = None, shipped: str | None = None) -> BuildReport:
    """Write the catalog to ``out``; user problems are findings (CRD files) or RolloutsError (bad arguments).
    ``shipped``: the catalog is the package's shipped schemas, this key naming their version (catalog.json says so,
    and a stale one is rebuilt)."""
    out = os.path.abspath(out)
    if os.path.isdir(out) and os.listdir(out) and not os.path.exists(os.path.join(out, INDEX_FILE)):
        raise RolloutsError(f"{out} exists and is not a schema catalog built by rollouts",
                            "Choose an empty or new directory with --out; it is replaced on every build.")
    report = BuildReport(out)
    layers: dict[str, tuple[str, bytes | str]] = {}  # path -> (source, bytes or file to copy)
    sources: list[dict[str, Any]] = []
    for catalog in catalogs or []:
        files = _catalog_files(catalog)
        for path, file in files.items():
            layers[path] = (f"catalog {catalog}", file)
        report.counts[f"catalog {catalog}"] = len(files)
        sources.append({"type": "catalog", "schemas": len(files)})
    if kubernetes_version:
        version = kubernetes.pick_version(kubernetes_version)
        report.kubernetes_version = version
        converted = kubernetes.convert(version)
        label = f"kubernetes-validate {version}"
        for path, schema in converted.items():
            layers[path] = (label, _dump(schema))
        report.counts[label] = len(converted)
        sources.append({"type": "kubernetes-validate", "kubernetesVersion": version, "schemas": len(converted)})
    if crds:
        schemas, notes, findings = crd.load_crd_files(crds)
        report.notes.extend(notes)
        report.findings.extend(findings)
        for path, schema in schemas.items():
            layers[path] = ("crds", _dump(schema))
        report.counts["crds"] = len(schemas)
        sources.append({"type": "crds", "schemas": len(schemas), "kinds": sorted(schemas)})
    if not layers:
        raise RolloutsError("nothing to build", "Give --kubernetes-version, --crds or --catalog.")

    parent = os.path.dirname(out)
    makedirs(parent)  # .rollouts/ (the default) gets its .gitignore
    tmp = tempfile.mkdtemp(prefix=".schemas-", dir=parent)
    try:
        for path in sorted(layers):
            target = os.path.join(tmp, *path.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            data = layers[path][1]
            if isinstance(data, bytes):
                with open(target, "wb") as fh:
                    fh.write(data)
            else:
                shutil.copyfile(data, target)
        index: dict[str, Any] = {"layout": "<group>/<kind>_<version>.json", "schemas": len(layers),
                                 "sources": sources}
        if shipped:
            index["shipped"] = shipped
        with open(os.path.join(tmp, INDEX_FILE), "w", encoding="utf-8") as fh:
            json.dump(index, fh, indent=2, sort_keys=True)
            fh.write("\n")
        old = None
        if os.path.exists(out):
            old = out + ".old"
            if os.path.exists(old):
                shutil.rmtree(old)
            os.rename(out, old)
        os.rename(tmp, out)
        if old:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report.total = len(layers)
    return report
