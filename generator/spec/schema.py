"""Check a loaded spec against the published JSON Schema, with the line and column of every problem.

The schema (rollouts.schema.json, draft-07) is the contract editors use. This walker implements the keywords
the schema uses (a test keeps the two in step, and checks that it agrees with the reference ``jsonschema``
validator), because it reports every problem at once, at the node's position, with a did-you-mean, and adds
nothing to the start-up of ``rollouts lint``.
"""

from __future__ import annotations

import json
import operator
import os
import re
from functools import cache
from typing import Any

from ..findings import Finding, error
from .load import Path, Spec, path_text

SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "rollouts.schema.json")

SUPPORTED = {
    "$schema", "$id", "$ref", "title", "description", "examples", "default", "definitions", "type", "properties",
    "additionalProperties", "required", "enum", "const", "pattern", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "items", "anyOf",
    "propertyNames", "minProperties", "maxProperties",
}

_BOUNDS = (
    ("minimum", operator.lt, "at least"),
    ("maximum", operator.gt, "at most"),
    ("exclusiveMinimum", operator.le, "more than"),
    ("exclusiveMaximum", operator.ge, "less than"),
)

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "integer": (int,), "number": (int, float),
    "boolean": (bool,), "null": (type(None),),
}


@cache
def schema() -> dict[str, Any]:
    with open(SCHEMA_FILE, encoding="utf-8") as fh:
        loaded: dict[str, Any] = json.load(fh)
    return loaded


def resolve_ref(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema()["definitions"][name]
    return node


def check(spec: Spec) -> list[Finding]:
    findings: list[Finding] = []
    _check(spec, spec.data, schema(), (), findings)
    return findings


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    for name in ("object", "array", "string", "integer", "number"):
        if isinstance(value, _TYPES[name]):
            return name
    return type(value).__name__


def _is(value: Any, type_: str) -> bool:
    if isinstance(value, bool) and type_ in ("integer", "number"):
        return False
    return isinstance(value, _TYPES[type_])


def _fail(
    spec: Spec, path: Path, rule: str, message: str, hint: str, findings: list[Finding], key: bool = False
) -> None:
    line, col = spec.position(path, key=key)
    where = path_text(path) or "the document"
    findings.append(error(rule, spec.file, line, col, f"{where}: {message}", hint, path_text(path)))


def _describe(node: dict[str, Any]) -> str:
    return str(node.get("description", "")).split(". ")[0].rstrip(".")


def _check(spec: Spec, value: Any, node: dict[str, Any], path: Path, findings: list[Finding]) -> bool:
    """Append findings for ``value``; return whether it was valid (used by anyOf)."""
    node = resolve_ref(node)
    before = len(findings)
    if "anyOf" in node:
        same_type = [o for o in node["anyOf"] if _is(value, resolve_ref(o).get("type", "object"))]
        if len(same_type) == 1:
            return _check(spec, value, same_type[0], path, findings)
        for option in node["anyOf"]:
            trial: list[Finding] = []
            if _check(spec, value, option, path, trial):
                return True
        types = [resolve_ref(o).get("type", "object") for o in node["anyOf"]]
        _fail(spec, path, "schema-type", f"expected {' or '.join(types)}, got {_type_name(value)}", "", findings)
        return False
    type_ = node.get("type")
    if type_ and not _is(value, type_):
        hint = _describe(node)
        _fail(spec, path, "schema-type", f"expected {type_}, got {_type_name(value)} {_short(value)}",
              f"{hint}." if hint else "", findings)
        return False
    if "const" in node and value != node["const"]:
        _fail(spec, path, "schema-value", f"must be {node['const']!r}, not {_short(value)}",
              f"Set it to {node['const']}.", findings)
    if "enum" in node and value not in node["enum"]:
        choices = ", ".join(str(v) for v in node["enum"])
        _fail(spec, path, "schema-value", f"{_short(value)} is not one of: {choices}",
              _did_you_mean(str(value), [str(v) for v in node["enum"]]) or f"Use one of: {choices}.", findings)
    if isinstance(value, str):
        _check_string(spec, value, node, path, findings)
    elif _is(value, "number"):
        _check_number(spec, value, node, path, findings)
    elif isinstance(value, list):
        _check_array(spec, value, node, path, findings)
    elif isinstance(value, dict):
        _check_object(spec, value, node, path, findings)
    return len(findings) == before


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, dict | list) else _type_name(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_string(spec: Spec, value: str, node: dict[str, Any], path: Path, findings: list[Finding]) -> None:
    if "minLength" in node and len(value) < node["minLength"]:
        _fail(spec, path, "schema-value", "must not be empty", _describe(node) + ".", findings)
    if "maxLength" in node and len(value) > node["maxLength"]:
        _fail(spec, path, "schema-value", f"is {len(value)} characters long; at most {node['maxLength']} allowed",
              "Shorten it.", findings)
    if "pattern" in node and not re.search(node["pattern"], value):
        _fail(spec, path, "schema-value", f"{_short(value)} does not match {node['pattern']}",
              _pattern_hint(node), findings)


def _pattern_hint(node: dict[str, Any]) -> str:
    pattern = node["pattern"]
    if pattern.startswith("^([0-9]+(ms|s|m|h))+$"):
        return "Write a duration such as 30s, 1m or 1h30m."
    if "[-a-z0-9]" in pattern:
        return "Use lower-case letters, digits and '-', starting and ending with a letter or digit (DNS-1123 label)."
    described = _describe(node)
    return f"{described}." if described else ""


def _check_number(spec: Spec, value: float, node: dict[str, Any], path: Path, findings: list[Finding]) -> None:
    for keyword, broken, words in _BOUNDS:
        if keyword in node and broken(value, node[keyword]):
            _fail(spec, path, "schema-range", f"{value} is out of range: must be {words} {node[keyword]}",
                  _describe(node) + ".", findings)


def _check_array(spec: Spec, value: list[Any], node: dict[str, Any], path: Path, findings: list[Finding]) -> None:
    if "minItems" in node and len(value) < node["minItems"]:
        _fail(spec, path, "schema-value", f"needs at least {node['minItems']} item(s)", _describe(node) + ".", findings)
    if "maxItems" in node and len(value) > node["maxItems"]:
        _fail(spec, path, "schema-value", f"has more than {node['maxItems']} items", "", findings)
    if node.get("uniqueItems"):
        seen: list[Any] = []
        for i, item in enumerate(value):
            if item in seen:
                _fail(spec, (*path, i), "schema-value", f"{_short(item)} is listed twice", "Remove the repeat.",
                      findings)
            seen.append(item)
    if "items" in node:
        for i, item in enumerate(value):
            _check(spec, item, node["items"], (*path, i), findings)


def _check_object(spec: Spec, value: dict[str, Any], node: dict[str, Any], path: Path, findings: list[Finding]) -> None:
    props: dict[str, Any] = node.get("properties", {})
    for name in node.get("required", []):
        if name not in value:
            sub = resolve_ref(props.get(name, {}))
            what = _describe(sub)
            _fail(spec, path, "schema-required", f"missing required key {name!r}",
                  f"Add {name}: {what.lower()}." if what else f"Add {name}.", findings, key=True)
    if "minProperties" in node and len(value) < node["minProperties"]:
        _fail(spec, path, "schema-value", f"needs at least {node['minProperties']} key(s)", _describe(node) + ".",
              findings)
    if "maxProperties" in node and len(value) > node["maxProperties"]:
        _fail(spec, path, "schema-value", f"may have at most {node['maxProperties']} key(s), has {len(value)}",
              _describe(node) + ".", findings)
    extra = node.get("additionalProperties", True)
    names = node.get("propertyNames")
    for key, item in value.items():
        sub_path = (*path, key)
        if not isinstance(key, str):
            _fail(spec, sub_path, "schema-type", f"key {key!r} is a {_type_name(key)}, not a string",
                  "Quote the key.", findings, key=True)
            continue
        if names is not None and "pattern" in names and not re.search(names["pattern"], key):
            _fail(spec, sub_path, "schema-value", f"key {key!r} does not match {names['pattern']}",
                  _pattern_hint(names), findings, key=True)
        if names is not None and len(key) > names.get("maxLength", len(key)):
            _fail(spec, sub_path, "schema-value", f"key {key!r} is longer than {names['maxLength']} characters",
                  "Shorten it.", findings, key=True)
        if key in props:
            _check(spec, item, props[key], sub_path, findings)
        elif extra is False:
            hint = _did_you_mean(key, list(props)) or f"Known keys here: {', '.join(props)}."
            _fail(spec, sub_path, "schema-unknown-key", f"unknown key {key!r}", hint, findings, key=True)
        elif isinstance(extra, dict):
            _check(spec, item, extra, sub_path, findings)


def _did_you_mean(word: str, choices: list[str]) -> str:
    import difflib

    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return f"Did you mean {lowered[word.lower()]!r}? Names are case-sensitive."
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"Did you mean {close[0]!r}?" if close else ""
