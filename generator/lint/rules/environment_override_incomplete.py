"""A section that only an environment sets must be complete there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ...findings import Finding, Severity
from ...spec.load import Path, path_text
from ...spec.schema import resolve_ref, schema

if TYPE_CHECKING:
    from . import Context

ID = "environment-override-incomplete"
SEVERITY = Severity.ERROR
SUMMARY = "A section set only under environments.<env> must have every key the schema requires of it."
REASON = """\
An environment's override is deep-merged into the base spec (lists are replaced), and the schema lets every key of
an override be left out, because the base spec usually gives it. When the base spec has no such section at all
(ingress, gates.acceptanceTest, workload.autoscaling, ...), the override is the whole section, and a key it leaves
out is missing from what that environment renders: the route without a Gateway namespace, the test without a
command. The schema check cannot see this, as it reads the base spec and each override apart. (This project's own
layout; no upstream issue.)"""


def _missing(ctx: Context, env: str, value: dict[str, Any], node: dict[str, Any], path: Path) -> Iterator[Finding]:
    node = resolve_ref(node)
    props = node.get("properties", {})
    if ctx.spec.get(("spec", *path)) is None:  # the section comes from the override alone
        for name in node.get("required", []):
            if name not in value:
                yield ctx.finding(env, path,
                                  f"spec.{path_text(path)} is set only for this environment and lacks {name!r}",
                                  f"Add {name} under environments.{env}.{path_text(path)}, or give the section "
                                  "in the base spec.")
    for key, item in value.items():
        if isinstance(item, dict) and key in props:  # lists are validated whole, with the full item schema
            yield from _missing(ctx, env, item, props[key], (*path, key))


def check(ctx: Context) -> Iterator[Finding]:
    spec_schema = schema()["properties"]["spec"]["properties"]
    for env, spec in ctx.each():
        for key, section in spec.items():
            if isinstance(section, dict) and key in spec_schema:
                yield from _missing(ctx, env, section, spec_schema[key], (key,))
