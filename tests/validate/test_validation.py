"""A validate run walks the rendered tree once: kustomize, PromQL and the schema check share one list of its
files, and the result says how many there are (the clean-run summary counts them without walking again)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rollouts.project import Project
from rollouts.validate import validation

CM = """
apiVersion: v1
kind: ConfigMap
metadata: {name: x, namespace: shop}
data: {a: b}
"""


def test_one_walk_and_the_count_of_files(project: Callable[..., Project], core_catalog: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    proj = project({"apps/a/cm.yaml": CM, "apps/a/kustomization.yaml": "resources: [cm.yaml]\n",
                    "apps/b/notes.txt": "not a manifest\n", "apps/kustomization.yaml": "resources: [a]\n"})
    tree = str(Path(proj.root) / "flux")
    walked: list[str] = []
    real = os.walk

    def walk(top: Any, *args: Any, **kwargs: Any) -> Iterator[tuple[str, list[str], list[str]]]:
        if os.path.abspath(top).startswith(tree):
            walked.append(str(top))
        return real(top, *args, **kwargs)

    monkeypatch.setattr(os, "walk", walk)
    result = validation(proj, schema_dir=str(core_catalog), engine="python")
    assert result.files == 4
    assert len(walked) == 1, walked
    assert [f.rule for f in result.findings if f.severity.value == "error"] == []
