"""Generate ``generator/spec/types.py``, the typed model of the resolved spec, from ``rollouts.schema.json``.

One ``TypedDict`` per object of the resolved spec (what ``spec.resolve.resolve`` returns for one environment: the
environment's overrides merged over the base, every absent property with a schema ``default`` filled in). So a key
with a ``default``, or one the schema lists as ``required``, is always present (a plain annotation); any other key
is ``NotRequired``. Enums and consts become ``Literal``. The schema stays the only source: no default is written
here or in the output. Run after editing the schema (and ``scripts/spec_derive.py``):

    .venv/bin/python scripts/spec_types.py           # rewrite generator/spec/types.py
    .venv/bin/python scripts/spec_types.py --check   # exit 1 when it is stale

Not on the ``rollouts lint`` path; ``tests/lint/test_spec_types.py`` keeps the output equal to what this generates.
The ``<section>Override`` and ``environment`` definitions describe only what a user writes under
``spec.environments``; the resolved spec has no ``environments`` key, so they get no type here.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from typing import Any

from rollouts.spec.schema import SCHEMA_FILE

TYPES_FILE = os.path.join(os.path.dirname(SCHEMA_FILE), "types.py")
COMMAND = "python scripts/spec_types.py"

# Names a user would say, where the schema's own key does not make one: definitions by name, nested objects by the
# dotted path of their keys ("[]" for the items of a list).
NAMES = {
    "slo": "SLO",
    "stringMatch": "StringMatch",
    "probes.flows[]": "Flow",
    "probes.flows[].steps[]": "FlowStep",
    "strategy.match[]": "Match",
    "policy.changeWindows[]": "ChangeWindow",
}

SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}

HEADER = f'''\
"""The resolved spec of one environment, as types: generated from rollouts.schema.json, do not edit.

Regenerate with `{COMMAND}` (tests/lint/test_spec_types.py fails when this file is stale).
A key is required when the schema gives it a default (resolve fills it in, always) or lists it as required (present
once lint is clean: a spec that fails the schema, or a section only an environment sets, which
environment-override-incomplete reports, may lack it). Imported only under ``TYPE_CHECKING``: no lint start-up cost.
"""

from typing import Any, Literal, NotRequired, TypedDict

'''


class _Generator:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.classes: dict[str, str] = {}  # name -> source, in the order written (dependencies first)
        self.origin: dict[str, str] = {}  # name -> the dotted path it was made for
        self.done: dict[str, str] = {}  # definition name -> class name

    def definition(self, ref: str) -> str:
        name = ref.rsplit("/", 1)[-1]
        if name not in self.done:
            self.done[name] = self.object(self.schema["definitions"][name], name, NAMES.get(name, _capital(name)))
        return self.done[name]

    def type_of(self, node: dict[str, Any], where: str, key: str) -> str:
        """The annotation of the value at ``node``; ``where`` is its dotted path, ``key`` the key or list it is in."""
        if "$ref" in node:
            return self.definition(node["$ref"])
        if "const" in node:
            return f"Literal[{_literal(node['const'])}]"
        if "enum" in node:
            return "Literal[" + ", ".join(_literal(v) for v in node["enum"]) + "]"
        if "anyOf" in node:
            return " | ".join(dict.fromkeys(self.type_of(n, where, key) for n in node["anyOf"]))
        kind = node.get("type")
        if kind == "array":
            items = node.get("items")
            name = _singular(key)
            return f"list[{self.type_of(items, where + '[]', name) if isinstance(items, dict) else 'Any'}]"
        if kind == "object" or "properties" in node:
            if "properties" in node:
                return self.object(node, where, NAMES.get(where, _capital(key)))
            extra = node.get("additionalProperties")
            value = self.type_of(extra, where + ".*", key) if isinstance(extra, dict) else "Any"
            return f"dict[str, {value}]"
        if isinstance(kind, str) and kind in SCALARS:
            return SCALARS[kind]
        return "Any"

    def object(self, node: dict[str, Any], where: str, name: str) -> str:
        if name in self.origin:
            raise SystemExit(f"two objects would be named {name} ({self.origin[name]}, {where}): add one to NAMES")
        self.origin[name] = where
        required = set(node.get("required", []))
        fields = []
        for key, sub in node["properties"].items():
            annotation = self.type_of(sub, f"{where}.{key}", key)
            target = self.schema["definitions"][sub["$ref"].rsplit("/", 1)[-1]] if "$ref" in sub else sub
            if "default" in target:
                fields.append(f"    {key}: {annotation}  # default {json.dumps(target['default'])}")
            elif key in required:
                fields.append(f"    {key}: {annotation}")
            else:
                fields.append(f"    {key}: NotRequired[{annotation}]")
        doc = node.get("description", "").split(" (environment override")[0]
        lines = [f"class {name}(TypedDict):"]
        if doc:
            text = textwrap.wrap(_escape(doc), 112)
            lines.append(f'    """{text[0]}' + ('"""' if len(text) == 1 else ""))
            lines.extend(f"    {line}" for line in text[1:])
            if len(text) > 1:
                lines[-1] += '"""'
            lines.append("")
        self.classes[name] = "\n".join(lines + fields) + "\n"
        return name


def generate(schema: dict[str, Any]) -> str:
    """The source of ``types.py`` for ``schema``: the same schema always gives the same text."""
    gen = _Generator(schema)
    spec = dict(schema["properties"]["spec"])
    spec["properties"] = {k: v for k, v in spec["properties"].items() if k != "environments"}
    gen.object(schema["properties"]["metadata"], "metadata", "Metadata")
    gen.object(spec, "spec", "Spec")
    resolved = (
        "class Resolved(TypedDict):\n"
        '    """What ``spec.resolve.resolve`` returns: one environment\'s whole document."""\n\n'
        "    metadata: Metadata\n"
        "    environment: str\n"
        "    spec: Spec\n"
    )
    return HEADER + "\n" + "\n\n".join([*gen.classes.values(), resolved])


def _capital(key: str) -> str:
    return key[:1].upper() + key[1:]


def _singular(key: str) -> str:
    return key[:-1] if key.endswith("s") else key


def _literal(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def main(argv: list[str]) -> int:
    with open(SCHEMA_FILE, encoding="utf-8") as fh:
        text = generate(json.load(fh))
    if "--check" in argv:
        with open(TYPES_FILE, encoding="utf-8") as fh:
            if fh.read() != text:
                print(f"{TYPES_FILE} is stale: run {COMMAND}", file=sys.stderr)
                return 1
        return 0
    with open(TYPES_FILE, "w", encoding="utf-8") as fh:
        fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
