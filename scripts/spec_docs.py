"""The field reference of docs/spec.md, generated from the schema (a test keeps the two in step).

    .venv/bin/python scripts/spec_docs.py   # rewrites the generated part of docs/spec.md

Each field's example comes from the example services under services/ when one of them sets it, else from the
schema's ``examples`` or ``default``, else from ``EXAMPLES`` below. Not on the ``rollouts lint`` path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from rollouts.spec.load import load
from rollouts.spec.resolve import to_plain
from rollouts.spec.schema import resolve_ref, schema

BEGIN = "<!-- BEGIN GENERATED FIELD REFERENCE: python scripts/spec_docs.py -->"
END = "<!-- END GENERATED FIELD REFERENCE -->"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES = ("checkout", "frontend", "billing-worker")

# Examples for fields that no example service sets and the schema gives no value for.
EXAMPLES: dict[str, Any] = {
    "spec.workload.chart.name": "web",
    "spec.workload.disruptionBudget": {"maxUnavailable": 1},
    "spec.workload.disruptionBudget.maxUnavailable": 1,
    "spec.workload.steadyTraffic": True,
    "spec.strategy.provider": "gatewayapi:v1beta1",
    "spec.strategy.mirror": False,
    "spec.strategy.sessionAffinity": {"cookieName": "canary-session", "maxAge": 3600},
    "spec.strategy.sessionAffinity.cookieName": "canary-session",
    "spec.strategy.sessionAffinity.maxAge": 3600,
    "spec.strategy.skipAnalysis": False,
    "spec.strategy.timeout": "30s",
    "spec.strategy.match[].headers.*.regex": "^(beta|insider)$",
    "spec.strategy.match[].queryParams": {"preview": {"exact": "1"}},
    "spec.strategy.match[].queryParams.*": {"exact": "1"},
    "spec.strategy.match[].queryParams.*.exact": "1",
    "spec.strategy.match[].queryParams.*.regex": "^(1|yes)$",
    "spec.metrics[].min": 0.5,
    "spec.metrics[].variables": {"queue": "invoices"},
    "spec.metrics[].variables.*": "invoices",
    "spec.metrics[].address": "http://prometheus.monitoring:9090",
    "spec.gates.loadTest.timeout": "5s",
    "spec.gates.acceptanceTest.timeout": "30s",
    "spec.gates.manualApproval.beforeRollout": True,
    "spec.probes.flows[].steps[].headers": {"accept": "application/json"},
    "spec.probes.flows[].steps[].headers.*": "application/json",
    "spec.ingress.gateway.networks": ["10.0.0.0/8"],
    "spec.gates.helmTest.grantRBAC": True,
    "spec.gates.manualApproval.closeAfterRollout": True,
    "spec.policy.maxRollbackTime": "5m",
    "spec.policy.maxRolloutTime": "30m",
}


def fields(node: dict[str, Any] | None = None, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every field of the spec as (dotted path, schema), depth first, skipping the environment overrides."""
    node = resolve_ref(node if node is not None else schema())
    for name, sub in node.get("properties", {}).items():
        sub = resolve_ref(sub)
        here = f"{path}.{name}" if path else name
        yield here, sub
        if here == "spec.environments":
            continue
        yield from _children(sub, here)


def _children(sub: dict[str, Any], here: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if "properties" in sub:
        yield from fields(sub, here)
    items = sub.get("items")
    if isinstance(items, dict):
        items = resolve_ref(items)
        if "properties" in items:
            yield from fields(items, here + "[]")
    extra = sub.get("additionalProperties")
    if isinstance(extra, dict) and "anyOf" not in extra:
        extra = resolve_ref(extra)
        yield here + ".*", extra
        yield from _children(extra, here + ".*")


def _type(node: dict[str, Any]) -> str:
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type", "object")
    if kind == "array" and isinstance(node.get("items"), dict):
        inner = resolve_ref(node["items"])
        return f"list of {inner.get('type', 'object') if 'enum' not in inner else 'names'}"
    if kind == "string" and node.get("pattern") == "^([0-9]+(ms|s|m|h))+$":
        return "[duration](#durations)"
    return str(kind)


def _find(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    head, rest = parts[0], parts[1:]
    if head.endswith("[]"):
        value = doc.get(head[:-2]) if isinstance(doc, dict) else None
        for item in value if isinstance(value, list) else []:
            found = _find(item, rest)
            if found is not None:
                return found
        return None
    if head == "*":
        for value in doc.values() if isinstance(doc, dict) else []:
            found = _find(value, rest)
            if found is not None:
                return found
        return None
    return _find(doc.get(head), rest) if isinstance(doc, dict) else None


def _services() -> list[Any]:
    docs = []
    for name in SERVICES:
        spec, _ = load(os.path.join(ROOT, "services", name, "rollouts.yaml"))
        if spec is not None:
            docs.append(to_plain(spec.data))
    return docs


def example(path: str, node: dict[str, Any], docs: list[Any]) -> Any:
    if path in EXAMPLES:
        return EXAMPLES[path]
    for doc in docs:
        found = _find(doc, path.split("."))
        if found is not None:
            return found
    if node.get("examples"):
        return node["examples"][0]
    if "default" in node:
        return node["default"]
    return None


def _flow(value: Any) -> str:
    if isinstance(value, str):
        return value if value and all(c.isalnum() or c in "-_./:@" for c in value) else json.dumps(value)
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > 70:
        text = text[:67] + "..."
    return text.replace("|", "\\|").replace("\n", " ")


def reference_markdown() -> str:
    docs = _services()
    rows = ["| field | type | default | example | description |", "| --- | --- | --- | --- | --- |"]
    for path, node in fields():
        default = f"`{_flow(node['default'])}`" if "default" in node else ""
        value = example(path, node, docs)
        shown = f"`{_flow(value)}`" if value is not None else ""
        description = str(node.get("description", "")).replace("|", "\\|")
        rows.append(f"| `{path}` | {_type(node)} | {default} | {shown} | {description} |")
    return "\n".join([BEGIN, "", *rows, "", END]) + "\n"


def render_into(text: str) -> str:
    """``text`` (docs/spec.md) with its generated part replaced by the current reference."""
    start, end = text.index(BEGIN), text.index(END) + len(END) + 1
    return text[:start] + reference_markdown() + text[end:]


def main() -> None:
    path = os.path.join(ROOT, "docs", "spec.md")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(render_into(text))


if __name__ == "__main__":
    main()
