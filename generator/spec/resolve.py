"""Turn a loaded spec into the plain, fully defaulted spec of one environment."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from .load import Path, Spec
from .schema import resolve_ref, schema

if TYPE_CHECKING:
    from .types import Resolved


def to_plain(node: Any) -> Any:
    """ruamel's commented containers and scalars as plain dict, list, str, int, float, bool, None."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return str(node)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; any other value (lists included) replaces the base value."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def with_defaults(value: Any, node: dict[str, Any]) -> Any:
    """Fill in the schema's ``default`` of every absent property of every present object."""
    node = resolve_ref(node)
    if isinstance(value, dict):
        props = node.get("properties", {})
        out = {}
        for key, sub in props.items():
            sub = resolve_ref(sub)
            if key in value:
                out[key] = with_defaults(value[key], sub)
            elif "default" in sub:
                out[key] = with_defaults(copy.deepcopy(sub["default"]), sub)
        extra = node.get("additionalProperties")
        for key, item in value.items():
            if key not in props:
                out[key] = with_defaults(item, extra) if isinstance(extra, dict) and "anyOf" not in extra else item
        return out
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [with_defaults(v, node["items"]) for v in value]
    return value


def environments(spec: Spec, default: Sequence[str] | None = None) -> list[str]:
    """The environments the service is deployed to, in the order the spec lists them.

    A spec without ``environments`` goes to ``default`` (pass the project's environments), else to the schema's
    default, staging and production."""
    envs = spec.get(("spec", "environments"))
    if isinstance(envs, dict) and envs:
        return [str(k) for k in envs]
    if default:
        return list(default)
    return list(schema()["properties"]["spec"]["properties"]["environments"]["default"])


def resolve(spec: Spec, environment: str) -> Resolved:
    """The whole document for one environment: metadata, and spec with the overrides merged and defaults filled.

    Computed once per spec and environment (lint and render share it); callers must not modify it."""
    done = spec.resolved.get(environment)
    if done is None:
        done = spec.resolved[environment] = _resolve(spec, environment)
    return cast("Resolved", done)  # the schema's shape, with its defaults filled (tests/lint/test_spec_types.py)


def _resolve(spec: Spec, environment: str) -> dict[str, Any]:
    doc = to_plain(spec.data)
    body = dict(doc.get("spec") or {})
    envs = body.pop("environments", None)
    overrides = envs.get(environment) if isinstance(envs, dict) else None
    if not isinstance(overrides, dict):
        overrides = {}  # absent, null, or a wrong type the schema check reports
    merged = deep_merge(body, overrides)
    spec_schema = dict(schema()["properties"]["spec"])
    spec_schema["properties"] = {k: v for k, v in spec_schema["properties"].items() if k != "environments"}
    return {"metadata": doc.get("metadata", {}), "environment": environment, "spec": with_defaults(merged, spec_schema)}


def origin(spec: Spec, environment: str, path: Path) -> tuple[int, int]:
    """Line and column in rollouts.yaml of the field at ``path`` (under ``spec``) as seen in ``environment``:
    the environment's override when it sets the field, else the base spec, else the nearest ancestor."""
    override = ("spec", "environments", environment, *path)
    if spec.get(override) is not None:
        return spec.position(override)
    return spec.position(("spec", *path))
