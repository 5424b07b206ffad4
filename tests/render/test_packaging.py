"""The templates ship with the package: a non-editable build renders from outside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_a_built_package_renders_without_the_repository(root: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    # setuptools' build_py is what a wheel is made of: the packages and their package data (offline, no wheel)
    subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py",
                    "--build-lib", str(lib)], cwd=root, check=True, capture_output=True, timeout=120,
                   env={**os.environ, "PYTHONWARNINGS": "ignore"})
    templates = lib / "rollouts" / "render" / "templates"
    assert (templates / "apps" / "canary.yaml.j2").is_file() and not templates.is_symlink()
    repo = tmp_path / "repo"
    shutil.copytree(root / "services", repo / "services")
    script = ("import sys, rollouts.render.engine as e; "
              "assert e.templates_dir().startswith(sys.argv[1]), e.templates_dir(); "
              "from rollouts.cli import main; main(['render', '--root', sys.argv[2]])")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(lib)!r}); {script}",
                           str(lib), str(repo)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (repo / "flux" / "apps" / "production" / "checkout" / "canary.yaml").read_bytes() == (
        root / "flux" / "apps" / "production" / "checkout" / "canary.yaml").read_bytes()


def test_every_folder_of_the_package_is_installed_as_rollouts(root: Path) -> None:
    import tomllib

    listed = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    folders = []
    for init in (root / "generator").rglob("__init__.py"):
        parts = init.parent.relative_to(root / "generator").parts
        folders.append(".".join(("rollouts", *parts)))
    assert sorted(listed) == sorted(folders)
