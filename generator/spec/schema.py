"""Check a loaded spec against the published JSON Schema, with the line and column of every problem.

The schema (rollouts.schema.json, draft-07) is the contract editors use. This walker implements the keywords
the schema uses (a test keeps the two in step, and checks that it agrees with the reference ``jsonschema``
validator), because it reports every problem at once, at the node's position, with a did-you-mean and a hint
that says how to fix it, and adds nothing to the start-up of ``rollouts lint``.

Where the schema states a limit that a lint rule also checks (``x-lint-rule``: an editor shows the limit, the
rule words it better and names the environment), the walker reports the problem apart, as owned by that rule.
A value that is infinite or not a number (``1e400``, ``.inf``, ``.nan``) is reported anywhere in the document.
"""

from __future__ import annotations

import json
import math
import operator
import os
import re
from functools import cache
from typing import Any, NamedTuple

from ..findings import Finding, error
from .load import Path, Spec, describe, path_text

SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "rollouts.schema.json")

SUPPORTED = {
    "$schema", "$id", "$ref", "$comment", "title", "description", "examples", "default", "definitions", "type",
    "properties", "additionalProperties", "required", "enum", "const", "pattern", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "items",
    "anyOf", "allOf", "if", "then", "else", "propertyNames", "minProperties", "maxProperties",
    "x-lint-rule",  # not JSON Schema: the lint rule that reports this limit (editors ignore unknown keywords)
}

DURATION = "^([0-9]+(ms|s|m|h))+$"

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

# what to write, per JSON type, in a hint
_WANTED = {
    "object": "a mapping of keys", "array": "a list", "string": "a string", "integer": "a whole number",
    "number": "a number", "boolean": "true or false", "null": "nothing",
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


class Failure(NamedTuple):
    """Where the document breaks the schema: the value at ``path`` is unusable, or (``missing``) the object at
    ``path`` lacks that required key."""

    path: Path
    missing: str | None = None


class Result(NamedTuple):
    findings: list[Finding]  # every problem, those owned by a rule included
    failures: list[Failure]  # the problems no rule owns: rules must not read these values
    owned: list[tuple[str, Finding]]  # (rule id, finding) for the limits a lint rule also reports


def check(spec: Spec) -> list[Finding]:
    return examine(spec).findings


def conforms(spec: Spec, node: dict[str, Any]) -> bool:
    """Whether the whole document is valid against ``node``, a schema without ``$ref`` that uses only SUPPORTED
    keywords (rollouts.project.yaml's), reporting nothing."""
    return _Walk(spec).trial(spec.data, node, ())


def findings_against(spec: Spec, node: dict[str, Any]) -> list[Finding]:
    """Every problem of the whole document against ``node`` (a schema as :func:`conforms` takes), at its line:col,
    in the words lint uses for a spec."""
    walk = _Walk(spec)
    walk.check(spec.data, node, ())
    return walk.findings


def examine(spec: Spec) -> Result:
    walk = _Walk(spec)
    walk.check(spec.data, schema(), ())
    walk.sweep(spec.data, ())
    return Result(walk.findings, walk.failures, walk.owned)


def _type_name(value: Any) -> str:
    """The JSON type of ``value``, or how a user would call a YAML value JSON has no type for."""
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    for name in ("object", "array", "string", "integer", "number"):
        if isinstance(value, _TYPES[name]):
            return name
    return describe(value)


def _is(value: Any, type_: str) -> bool:
    if isinstance(value, bool) and type_ in ("integer", "number"):
        return False
    return isinstance(value, _TYPES[type_])


def _describe(node: dict[str, Any]) -> str:
    return str(node.get("description", "")).split(". ")[0].rstrip(".")


def _short(value: Any) -> str:
    if isinstance(value, dict | list | tuple) or not isinstance(value, str | int | float | bool | type(None)):
        return describe(value)
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _example(node: dict[str, Any]) -> Any:
    """A value the schema itself gives for ``node`` (examples, default, const, enum), else None."""
    node = resolve_ref(node)
    for keyword in ("examples", "default"):
        if keyword in node and node[keyword] not in ({}, [], None):
            return node[keyword][0] if keyword == "examples" else node[keyword]
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        return node["enum"][0]
    if node.get("pattern", "").startswith(DURATION):
        return "1m"
    return None


def _flow(value: Any) -> str:
    """A value as YAML flow text, for a hint."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        plain = re.fullmatch(r"[A-Za-z0-9_./:@-]+", value) and not re.fullmatch(r"[0-9.]+|true|false|null", value)
        return value if plain else json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return json.dumps(value)


def _wanted(node: dict[str, Any]) -> str:
    """What a value of ``node`` is, in a user's words: 'a duration', 'a whole number', 'one of: a, b'."""
    node = resolve_ref(node)
    if node.get("pattern", "").startswith(DURATION):
        return "a duration"
    if "enum" in node:
        return "one of: " + ", ".join(str(v) for v in node["enum"])
    if "anyOf" in node:
        return " or ".join(_wanted(o) for o in node["anyOf"])
    return _WANTED.get(str(node.get("type", "object")), "a value")


def _set_hint(path: Path, node: dict[str, Any], value: Any = None) -> str:
    """How to write a value of the right type at ``path``: 'Set interval to a duration, e.g. interval: 1m.'"""
    example = _example(node)
    wanted = _wanted(node)
    if wanted == "a duration":
        wanted += " (a whole number and a unit: ms, s, m or h)"
    tag = getattr(getattr(value, "tag", None), "value", None)
    untag = f"Remove the tag {tag}. " if isinstance(tag, str) and tag.startswith("!") else ""
    if path and isinstance(path[-1], int):
        where = path_text(path[-2:]) if isinstance(path[-2:][0], str) else f"item {path[-1]} of {_name(path)}"
        return f"{untag}Write {where} as {wanted}" + (f", e.g. {_flow(example)}." if example is not None else ".")
    name = _name(path)
    if example is None:
        return f"{untag}Set {name} to {wanted}."
    return f"{untag}Set {name} to {wanted}, e.g. {name}: {_flow(example)}."


def _empty(path: Path, node: dict[str, Any]) -> str:
    """The message for a key written with no value: 'is empty; expected a duration such as 1m'."""
    example = _example(node)
    such = f" such as {_flow(example)}" if example is not None and not isinstance(example, dict | list) else ""
    return f"is empty; expected {_wanted(node)}{such}"


def _name(path: Path) -> str:
    """The key a user sees for the last step of ``path``."""
    for step in reversed(path):
        if isinstance(step, str):
            return step
    return "it"


def _pattern_hint(node: dict[str, Any], name: str) -> str:
    pattern = node["pattern"]
    if pattern.startswith(DURATION):
        return f"Write a duration such as 30s, 1m or 1h30m: {name}: 1m."
    if "[-a-z0-9]" in pattern:
        return "Use lower-case letters, digits and '-', starting and ending with a letter or digit (DNS-1123 label)."
    described = str(node.get("description", "")).strip()
    return f"Write {name} to match {pattern}" + (f": {described}" if described else ".")


class _Walk:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.findings: list[Finding] = []
        self.failures: list[Failure] = []
        self.owned: list[tuple[str, Finding]] = []
        self.non_finite: set[Path] = set()  # reported by the walker itself, so sweep() skips them
        self.rule: str | None = None  # the lint rule that owns the subschema being checked

    def fail(self, path: Path, rule: str, message: str, hint: str, key: bool = False,
             missing: str | None = None, bare: bool = False) -> None:
        line, col = self.spec.position(path, key=key)
        where = path_text(path) or "the document"
        text = f"{where} {message}" if bare else f"{where}: {message}"
        found = error(rule, self.spec.file, line, col, text, hint, path_text(path))
        self.findings.append(found)
        if self.rule is not None:
            self.owned.append((self.rule, found))
        else:
            self.failures.append(Failure(path, missing))

    def trial(self, value: Any, node: dict[str, Any], path: Path) -> bool:
        """Whether ``value`` is valid against ``node``, reporting nothing."""
        saved = self.findings, self.failures, self.owned, set(self.non_finite)
        self.findings, self.failures, self.owned = [], [], []
        try:
            return self.check(value, node, path)
        finally:
            self.findings, self.failures, self.owned, self.non_finite = saved

    def check(self, value: Any, node: dict[str, Any], path: Path) -> bool:
        """Report the problems of ``value``; return whether it was valid (used by anyOf and if)."""
        node = resolve_ref(node)
        before = len(self.findings)
        if isinstance(value, float) and not math.isfinite(value):
            self.not_finite(value, path, node)
            return False
        owner = self.rule
        if "x-lint-rule" in node:
            self.rule = node["x-lint-rule"]
        try:
            self._check(value, node, path)
        finally:
            self.rule = owner
        return len(self.findings) == before

    def _check(self, value: Any, node: dict[str, Any], path: Path) -> None:
        if "anyOf" in node:
            self._any_of(value, node, path)
            return
        type_ = node.get("type")
        if type_ and not _is(value, type_):
            if value is None:
                self.fail(path, "schema-type", _empty(path, node), _set_hint(path, node), key=True, bare=True)
            else:
                self.fail(path, "schema-type", f"expected {type_}, got {_type_name(value)} {_short(value)}"
                          if isinstance(value, str | int | float) else f"expected {type_}, got {describe(value)}",
                          _set_hint(path, node, value))
            return
        if "const" in node and value != node["const"]:
            self.fail(path, "schema-value", f"must be {node['const']!r}, not {_short(value)}",
                      f"Set it to {node['const']}.")
        if "enum" in node and value not in node["enum"]:
            choices = ", ".join(str(v) for v in node["enum"])
            self.fail(path, "schema-value", f"{_short(value)} is not one of: {choices}",
                      _did_you_mean(str(value), [str(v) for v in node["enum"]]) or f"Use one of: {choices}.")
        for sub in node.get("allOf", []):
            self.check(value, sub, path)
        if "if" in node:
            branch = "then" if self.trial(value, node["if"], path) else "else"
            if branch in node:
                self.check(value, node[branch], path)
        if isinstance(value, str):
            self._string(value, node, path)
        elif _is(value, "number"):
            self._number(value, node, path)
        elif isinstance(value, list):
            self._array(value, node, path)
        elif isinstance(value, dict):
            self._object(value, node, path)

    def _any_of(self, value: Any, node: dict[str, Any], path: Path) -> None:
        same_type = [o for o in node["anyOf"] if _is(value, resolve_ref(o).get("type", "object"))]
        if len(same_type) == 1:
            self.check(value, same_type[0], path)
            return
        for option in node["anyOf"]:
            if self.trial(value, option, path):
                return
        types = " or ".join(resolve_ref(o).get("type", "object") for o in node["anyOf"])
        if value is None:
            self.fail(path, "schema-type", _empty(path, node), _set_hint(path, node), key=True, bare=True)
        else:
            self.fail(path, "schema-type", f"expected {types}, got {_type_name(value)}", _set_hint(path, node, value))

    def not_finite(self, value: float, path: Path, node: dict[str, Any] | None) -> None:
        line, col = self.spec.position(path)
        text = self.spec.lines[line - 1] if 0 < line <= len(self.spec.lines) else ""
        token = re.match(r"[^\s,\]}#]+", text[col - 1:]) if text else None
        written = token.group(0) if token else str(value)
        problem = "is not a number" if math.isnan(value) else "is too large: YAML reads it as infinity"
        example = _example(node) if node is not None else None
        name = _name(path)
        hint = (f"Write a finite number, e.g. {name}: {_flow(example)}." if isinstance(example, int | float)
                else f"Write a finite number for {name}.")
        self.non_finite.add(path)
        saved, self.rule = self.rule, None  # a rule cannot read such a value, whoever owns the limit
        try:
            self.fail(path, "schema-range", f"{written} {problem}", hint)
        finally:
            self.rule = saved

    def sweep(self, value: Any, path: Path) -> None:
        """Infinite and NaN numbers where the schema has no say (chart values and other free-form mappings)."""
        if isinstance(value, float) and not math.isfinite(value) and path not in self.non_finite:
            self.not_finite(value, path, None)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.sweep(item, (*path, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.sweep(item, (*path, i))

    def _string(self, value: str, node: dict[str, Any], path: Path) -> None:
        name = _name(path)
        if "minLength" in node and len(value) < node["minLength"]:
            self.fail(path, "schema-value", "must not be empty", _set_hint(path, node))
        if "maxLength" in node and len(value) > node["maxLength"]:
            self.fail(path, "schema-value",
                      f"is {len(value)} characters long; at most {node['maxLength']} allowed",
                      f"Shorten {name} to {node['maxLength']} characters or fewer.")
        if "pattern" in node and not re.search(node["pattern"], value):
            self.fail(path, "schema-value", f"{_short(value)} does not match {node['pattern']}",
                      _pattern_hint(node, name))

    def _number(self, value: float, node: dict[str, Any], path: Path) -> None:
        for keyword, broken, words in _BOUNDS:
            if keyword in node and broken(value, node[keyword]):
                self.fail(path, "schema-range", f"{value} is out of range: must be {words} {node[keyword]}",
                          f"Set {_name(path)} to a value {words} {node[keyword]}.")

    def _array(self, value: list[Any], node: dict[str, Any], path: Path) -> None:
        name = _name(path)
        if "minItems" in node and len(value) < node["minItems"]:
            example = _example(node)
            self.fail(path, "schema-value", f"needs at least {node['minItems']} item(s)",
                      f"Add items to {name}, e.g. {name}: {_flow(example)}." if example is not None
                      else f"Add at least {node['minItems']} item(s) to {name}.")
        if "maxItems" in node and len(value) > node["maxItems"]:
            self.fail(path, "schema-value", f"has more than {node['maxItems']} items",
                      f"Keep at most {node['maxItems']} items in {name}.")
        if node.get("uniqueItems"):
            seen: list[Any] = []
            for i, item in enumerate(value):
                if item in seen:
                    self.fail((*path, i), "schema-value", f"{_short(item)} is listed twice", "Remove the repeat.")
                seen.append(item)
        if "items" in node:
            for i, item in enumerate(value):
                self.check(item, node["items"], (*path, i))

    def _object(self, value: dict[str, Any], node: dict[str, Any], path: Path) -> None:
        props: dict[str, Any] = node.get("properties", {})
        for name in node.get("required", []):
            if name not in value:
                sub = resolve_ref(props.get(name, {}))
                example = _example(sub)
                what = _describe(sub) or _describe(node)  # a then of an if: its own description says why
                hint = (f"Add {name}: {_flow(example)}" if example is not None else f"Add {name}") + (
                    f" ({what[0].lower() + what[1:]})." if what else ".")
                self.fail(path, "schema-required", f"missing required key {name!r}", hint, key=True,
                          missing=name)
        if "minProperties" in node and len(value) < node["minProperties"]:
            self.fail(path, "schema-value", f"needs at least {node['minProperties']} key(s)",
                      f"Add a key to {_name(path)}" + (f" ({_describe(node).lower()})." if _describe(node) else "."))
        if "maxProperties" in node and len(value) > node["maxProperties"]:
            self.fail(path, "schema-value", f"may have at most {node['maxProperties']} key(s), has {len(value)}",
                      f"Keep at most {node['maxProperties']} key(s) in {_name(path)}.")
        extra = node.get("additionalProperties", True)
        names = node.get("propertyNames")
        for key, item in value.items():
            sub_path = (*path, key)
            if not isinstance(key, str):
                self.fail(sub_path, "schema-type", f"a key is {describe(key)}, not a string",
                          "Write the key as a plain name, or quote it.", key=True)
                continue
            if names is not None and "pattern" in names and not re.search(names["pattern"], key):
                self.fail(sub_path, "schema-value", f"key {key!r} does not match {names['pattern']}",
                          _pattern_hint(names, "the key"), key=True)
            if names is not None and len(key) > names.get("maxLength", len(key)):
                self.fail(sub_path, "schema-value", f"key {key!r} is longer than {names['maxLength']} characters",
                          f"Shorten the key to {names['maxLength']} characters or fewer.", key=True)
            if key in props:
                self.check(item, props[key], sub_path)
            elif extra is False:
                hint = _did_you_mean(key, list(props)) or f"Known keys here: {', '.join(props)}."
                self.fail(sub_path, "schema-unknown-key", f"unknown key {key!r}", hint, key=True)
            elif isinstance(extra, dict):
                self.check(item, extra, sub_path)


def _did_you_mean(word: str, choices: list[str]) -> str:
    import difflib

    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return f"Did you mean {lowered[word.lower()]!r}? Names are case-sensitive."
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"Did you mean {close[0]!r}?" if close else ""
