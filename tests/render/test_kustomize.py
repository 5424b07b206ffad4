"""Every directory under flux/ builds with kustomize: the committed tree and one with the develop pack on."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from generator.project import load_project
from generator.render import RenderOptions, render, write_tree


def build_every_directory(kustomize: str, flux: Path) -> list[str]:
    directories = sorted(p for p in [flux, *flux.rglob("*")] if p.is_dir())
    assert len(directories) > 10
    failures = []
    for directory in directories:
        assert (directory / "kustomization.yaml").is_file(), f"{directory} has no kustomization.yaml"
        proc = subprocess.run([kustomize, "build", str(directory)], capture_output=True, text=True, timeout=60,
                              check=False)
        if proc.returncode != 0 or ("kind:" not in proc.stdout and directory.name != "namespaces"):
            failures.append(f"{directory.relative_to(flux)}: {proc.stderr.strip()}")
    return failures


@pytest.mark.slow
def test_the_committed_tree_builds(root: Path, tool: Callable[[str], str]) -> None:
    assert build_every_directory(tool("kustomize"), root / "flux") == []


@pytest.mark.slow
def test_a_tree_with_the_develop_pack_builds(example_repo: Path, tool: Callable[[str], str]) -> None:
    kustomize = tool("kustomize")
    project = load_project(str(example_repo))
    write_tree(project, render(project, options=RenderOptions(develop=True, verify_secret="git-keys")))
    assert build_every_directory(kustomize, example_repo / "flux") == []
    out = subprocess.run([kustomize, "build", str(example_repo / "flux" / "apps" / "production")],
                         capture_output=True, text=True, check=True).stdout
    assert out.count("kind: Canary") == 3
