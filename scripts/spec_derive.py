"""Derive the ``<section>Override`` definitions of the schema from their base sections.

An environment override may set any key of a section, so its definition is the base definition with every
``required`` removed (except inside list items: a list in an override replaces the base list whole, so its
items must be complete). Run after editing a base section:

    .venv/bin/python scripts/spec_derive.py

Not on the ``rollouts lint`` path; a test keeps the published schema equal to what this derives.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from rollouts.spec.schema import SCHEMA_FILE

SECTIONS = ("workload", "strategy", "slo", "gates", "ingress", "probes", "policy")
SUFFIX = " (environment override: every key optional)"


def _optional(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    return {k: (v if k == "items" else _optional(v)) for k, v in node.items() if k != "required"}


def derive(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every override definition rebuilt from its base section."""
    out = copy.deepcopy(schema)
    for name in SECTIONS:
        override = _optional(copy.deepcopy(schema["definitions"][name]))
        override["description"] = override["description"] + SUFFIX
        out["definitions"][name + "Override"] = override
    return out


def dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    with open(SCHEMA_FILE, encoding="utf-8") as fh:
        schema = json.load(fh)
    with open(SCHEMA_FILE, "w", encoding="utf-8") as fh:
        fh.write(dump(derive(schema)))


if __name__ == "__main__":
    main()
