"""Fixtures for validate: schema catalogs built by `schemas build`, and small projects with a rendered tree."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from rollouts.catalog.build import build
from rollouts.project import Project


@pytest.fixture(scope="session")
def core_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kubernetes core kinds converted from kubernetes-validate alone (no shared data, no network)."""
    out = tmp_path_factory.mktemp("core") / "schemas"
    build(str(out), "1.34")
    return out


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Project]:
    """project({"apps/x.yaml": "..."}) -> a Project whose flux/ tree holds those files (dedented)."""

    def make(files: dict[str, str]) -> Project:
        for rel, text in files.items():
            path = tmp_path / "flux" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"))
        return Project(str(tmp_path))

    return make
