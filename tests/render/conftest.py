"""Fixtures for the render tests: a copy of the example repository in a temporary directory."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from rollouts.project import load_project
from rollouts.render import RenderResult, render


def copy_examples(root: Path, dest: Path) -> Path:
    shutil.copytree(root / "services", dest / "services")
    return dest


@pytest.fixture
def example_repo(root: Path, tmp_path: Path) -> Path:
    """A repository holding the example services and nothing rendered yet."""
    return copy_examples(root, tmp_path / "repo")


@pytest.fixture
def read_tree() -> Callable[[Path], dict[str, bytes]]:
    def read(directory: Path) -> dict[str, bytes]:
        if not directory.exists():
            return {}
        return {p.relative_to(directory).as_posix(): p.read_bytes()
                for p in sorted(directory.rglob("*")) if p.is_file() or p.is_symlink()}

    return read


@pytest.fixture(scope="session")
def rendered(root: Path) -> RenderResult:
    """The example repository rendered once, in memory."""
    result = render(load_project(str(root)))
    assert result.ok, result.findings
    return result
