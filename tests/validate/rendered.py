"""The repository's example specs rendered by rollouts.render (RENDER's contract), for tests that need real output."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from rollouts.project import Project, load_project

ROOT = Path(__file__).resolve().parents[2]


def render_examples(tmp: Path, edit: dict[str, tuple[str, str]] | None = None) -> tuple[Project, Any]:
    """Copy services/ (and rollouts.project.yaml) to ``tmp``, apply ``edit`` {service: (old, new)} to the specs,
    render with rollouts.render and write the tree to tmp/flux. Returns (project, RenderResult)."""
    try:
        from rollouts.render import render, write_tree
    except ImportError as e:  # RENDER's package not present in this checkout
        pytest.skip(f"rollouts.render is not available: {e}")
    shutil.copytree(ROOT / "services", tmp / "services")
    if (ROOT / "rollouts.project.yaml").exists():
        shutil.copy(ROOT / "rollouts.project.yaml", tmp / "rollouts.project.yaml")
    for service, (old, new) in (edit or {}).items():
        spec = tmp / "services" / service / "rollouts.yaml"
        text = spec.read_text()
        assert old in text, f"{old!r} not in {spec}"
        spec.write_text(text.replace(old, new, 1))
    project = load_project(str(tmp))
    result = render(project)
    errors = [f for f in result.findings if f.severity.value == "error"]
    if errors:
        pytest.fail(f"the examples do not render: {errors[:3]}")
    write_tree(project, result, out_dir=os.path.join(str(tmp), "flux"))
    return project, result
