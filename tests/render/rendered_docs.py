"""Reading rendered documents back in the render tests."""

from __future__ import annotations

from typing import Any

import yaml
from rollouts.render import RenderResult


def docs_of(result: RenderResult, prefix: str) -> list[dict[str, Any]]:
    """Every document of the rendered YAML files under ``prefix``."""
    return [d for path, text in result.files.items() if path.startswith(prefix) and path.endswith(".yaml")
            for d in yaml.safe_load_all(text) if d]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in docs if d["kind"] == kind])
    return found[0]
