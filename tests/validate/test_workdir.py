""".rollouts/ (schema catalog, downloads, caches) never lands in a user's commit: whatever creates it writes a
.gitignore of `*` inside, so `git add -A` in a repository without any ignore line of its own leaves it out."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from rollouts.workdir import makedirs, workdir

GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def _untracked(repo: Path) -> list[str]:
    """What `git add -A` would add, in a repository with no .gitignore of its own."""
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo, check=True, env=env,
                         capture_output=True, text=True).stdout
    return sorted(line[3:] for line in out.splitlines())


def test_workdir_makes_rollouts_with_its_gitignore(tmp_path: Path) -> None:
    assert workdir(str(tmp_path), "cache", "kustomize") == str(tmp_path / ".rollouts" / "cache" / "kustomize")
    assert (tmp_path / ".rollouts" / ".gitignore").read_text() == "*\n"
    (tmp_path / ".rollouts" / "cache" / "kustomize" / "x").write_text("{}")
    assert _untracked(tmp_path) == []


def test_a_users_own_gitignore_is_kept(tmp_path: Path) -> None:
    (tmp_path / ".rollouts").mkdir()
    (tmp_path / ".rollouts" / ".gitignore").write_text("schemas/\n")
    workdir(str(tmp_path), "schemas")
    assert (tmp_path / ".rollouts" / ".gitignore").read_text() == "schemas/\n"


def test_only_a_directory_called_rollouts_is_marked(tmp_path: Path) -> None:
    makedirs(str(tmp_path / "elsewhere" / "cache"))
    assert not list(tmp_path.rglob(".gitignore"))
    makedirs(str(tmp_path / "repo" / ".rollouts" / "cache" / "kustomize"))  # a cache directory the CLI passes
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob(".gitignore")] == ["repo/.rollouts/.gitignore"]


def test_the_shipped_catalog_is_not_committed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rollouts.catalog import find_catalog

    monkeypatch.delenv("ROLLOUTS_SCHEMAS", raising=False)
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "keep.txt").write_text("the user's own file\n")
    assert find_catalog(str(tmp_path)) == str(tmp_path / ".rollouts" / "schemas")
    assert (tmp_path / ".rollouts" / ".gitignore").read_text() == "*\n"
    assert _untracked(tmp_path) == ["services/keep.txt"]


def test_schemas_fetch_downloads_are_not_committed(tmp_path: Path) -> None:
    from rollouts.catalog.fetch import fetch

    upstream = tmp_path / "upstream" / "crd.yaml"
    upstream.parent.mkdir()
    upstream.write_text("kind: CustomResourceDefinition\n")
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps({"pins": [{"name": "x/crd.yaml", "url": upstream.as_uri(),
                                          "sha256": hashlib.sha256(upstream.read_bytes()).hexdigest()}]}))
    repo = tmp_path / "repo"
    report = fetch(str(repo / ".rollouts"), str(pins))
    assert report.fetched == ["x/crd.yaml"]
    assert (repo / ".rollouts" / ".gitignore").read_text() == "*\n"
    assert _untracked(repo) == []


def test_a_render_does_not_commit_its_cache(root: Path, tmp_path: Path) -> None:
    import shutil
    import sys

    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(root / "rollouts.project.yaml", repo)
    shutil.copytree(root / "services", repo / "services")
    rollouts = os.path.join(os.path.dirname(sys.executable), "rollouts")
    subprocess.run([rollouts, "render"], cwd=repo, check=True, capture_output=True)
    assert (repo / ".rollouts" / "cache" / "render.json").is_file()
    assert not [p for p in _untracked(repo) if p.startswith(".rollouts/")]
