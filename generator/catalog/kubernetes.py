"""Kubernetes core kinds from the PyPI package kubernetes-validate, rewritten into standalone schemas.

kubernetes-validate ships one directory per Kubernetes minor version (``v1.34.0-local-strict``) whose kind files
point into a shared ``_definitions.json`` through ``$ref: /api/_definitions.json#/$defs/...``: a URL on the
internet once kubeconform resolves it against the file's ``$id``. Each kind file is rewritten to carry the closure
of the definitions it uses under its own ``$defs`` (validation.md section 3.4), with the descriptions dropped (they
are most of the bytes and kubeconform compiles every byte).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from ..errors import RolloutsError

_PREFIX = "/api/_definitions.json#/$defs/"
_LOCAL = "#/$defs/"


def source_root() -> str:
    try:
        import kubernetes_validate
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise RolloutsError("the Python package kubernetes-validate is not installed",
                            "pip install kubernetes-validate") from e
    return os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema")


def available_versions() -> list[str]:
    """Kubernetes versions the installed kubernetes-validate carries, oldest first (``1.34.0``)."""
    found = []
    for entry in os.listdir(source_root()):
        m = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)-local-strict", entry)
        if m:
            found.append(tuple(int(x) for x in m.groups()))
    return [".".join(map(str, v)) for v in sorted(found)]


def pick_version(wanted: str) -> str:
    """``1.34`` or ``1.34.0`` -> the newest carried version of that minor, or a RolloutsError."""
    m = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?", wanted.strip())
    versions = available_versions()
    if not m:
        raise RolloutsError(f"not a Kubernetes version: {wanted!r}", "Write it as 1.34 or 1.34.0.")
    minor = (int(m.group(1)), int(m.group(2)))
    same = [v for v in versions if tuple(int(x) for x in v.split(".")[:2]) == minor]
    if not same:
        raise RolloutsError(
            f"kubernetes-validate has no schemas for Kubernetes {minor[0]}.{minor[1]}",
            f"Choose one of {', '.join(v.rsplit('.', 1)[0] for v in versions)} "
            "or upgrade the kubernetes-validate package.",
        )
    return same[-1]


def _refs(node: Any, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref.startswith(_PREFIX):
                out.add(ref[len(_PREFIX):])
            elif ref.startswith(_LOCAL):
                out.add(ref[len(_LOCAL):])
        for value in node.values():
            _refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _refs(value, out)
    return out


def _rewrite(node: Any, in_properties: bool = False) -> Any:
    """Local ``$ref``s, no descriptions, and ``oneOf`` of bare types (IntOrString, Quantity) as ``anyOf``.

    ``oneOf [string|null, integer|null]`` rejects ``null`` (it matches both); ``anyOf`` says what Kubernetes means.
    """
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if in_properties:
            out[key] = _rewrite(value)
        elif key == "description" and isinstance(value, str):
            continue
        elif key == "$ref" and isinstance(value, str) and value.startswith(_PREFIX):
            out[key] = _LOCAL + value[len(_PREFIX):]
        elif key == "oneOf" and isinstance(value, list) and all(
            isinstance(v, dict) and set(v) == {"type"} for v in value
        ):
            out["anyOf"] = _rewrite(value)
        else:
            out[key] = _rewrite(value, in_properties=key in ("properties", "$defs", "patternProperties"))
    return out


def convert(version: str) -> dict[str, dict[str, Any]]:
    """Standalone strict schemas of every top-level kind, keyed by catalog path ``<group>/<kind>_<version>.json``."""
    src = os.path.join(source_root(), f"v{version}-local-strict")
    with open(os.path.join(src, "_definitions.json"), encoding="utf-8") as fh:
        defs: dict[str, Any] = json.load(fh)["$defs"]
    closures: dict[str, set[str]] = {}

    def closure(name: str) -> set[str]:
        if name not in closures:
            seen: set[str] = set()
            todo = [name]
            while todo:
                current = todo.pop()
                if current not in seen and current in defs:
                    seen.add(current)
                    todo.extend(_refs(defs[current], set()) - seen)
            closures[name] = seen
        return closures[name]

    out: dict[str, dict[str, Any]] = {}
    for name in sorted(os.listdir(src)):
        if not name.endswith(".json") or name.startswith("_") or name == "all.json":
            continue
        with open(os.path.join(src, name), encoding="utf-8") as fh:
            schema = json.load(fh)
        gvks = schema.get("x-kubernetes-group-version-kind")
        if not gvks:
            continue  # a definition, not a kind a manifest can have
        need: set[str] = set()
        for ref in _refs(schema, set()):
            need |= closure(ref)
        schema.pop("$id", None)
        converted = _rewrite(schema)
        if need:
            converted["$defs"] = {k: _rewrite(defs[k]) for k in sorted(need)}
        for gvk in gvks:
            path = f"{gvk['group'] or 'core'}/{str(gvk['kind']).lower()}_{gvk['version']}.json"
            out[path] = converted
    return out
