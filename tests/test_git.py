"""generator/git.py against a real git: the source commit, uncommitted spec edits, and git itself missing or stuck."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from rollouts import git
from rollouts.errors import RolloutsError, ToolMissing

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1"}


def sh(*args: str, cwd: Path) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **ENV}, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, tool: Callable[[str], str]) -> Path:
    tool("git")
    root = tmp_path / "src"
    (root / "services" / "a").mkdir(parents=True)
    (root / "services" / "a" / "rollouts.yaml").write_text("a: 1\n")
    (root / "services" / "b.txt").write_text("b\n")
    (root / "README.md").write_text("hi\n")
    sh("init", "-q", "-b", "main", cwd=root)
    sh("add", "-A", cwd=root)
    sh("-c", "commit.gpgsign=false", "commit", "-qm", "x", cwd=root)
    return root


def test_source_commit_is_head_and_none_outside_git(repo: Path, tmp_path: Path) -> None:
    assert git.source_commit(str(repo)) == sh("rev-parse", "HEAD", cwd=repo)
    outside = tmp_path / "plain"
    outside.mkdir()
    assert git.source_commit(str(outside)) is None
    assert git.source(str(outside), ["services"]) == git.Source(None, ())


def test_uncommitted_names_edited_staged_untracked_and_renamed_files_under_the_paths(repo: Path) -> None:
    assert git.source(str(repo), ["services", "rollouts.project.yaml"]).dirty is False
    (repo / "services" / "a" / "rollouts.yaml").write_text("a: 2\n")  # edited
    (repo / "services" / "new").mkdir()
    (repo / "services" / "new" / "rollouts.yaml").write_text("n: 1\n")  # untracked
    sh("mv", "services/b.txt", "services/c.txt", cwd=repo)  # renamed, staged
    (repo / "rollouts.project.yaml").write_text("environments: [x]\n")  # untracked project file
    (repo / "README.md").write_text("outside the paths\n")
    found = git.source(str(repo), ["services", "rollouts.project.yaml"])
    assert found.dirty
    assert found.uncommitted == ("rollouts.project.yaml", "services/a/rollouts.yaml", "services/c.txt",
                                 "services/new/rollouts.yaml")


def test_a_missing_git_is_a_user_error_naming_git(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(ToolMissing, match="git is not installed") as caught:
        git.run("status", cwd=str(repo))
    assert "apt-get install git" in caught.value.hint
    with pytest.raises(ToolMissing):
        git.Git(str(repo / ".git"))
    assert git.source_commit(str(repo)) is None  # as before: no git means no source commit, not a crash


def test_a_git_that_does_not_finish_is_a_user_error_naming_the_command(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in git that hangs (a real git cannot be made to hang on demand without a network)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stuck = bin_dir / "git"
    stuck.write_text(f"#!/bin/sh\nexec {shutil.which('sleep')} 30\n")
    stuck.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(RolloutsError, match=r"git fetch did not finish within 0.5 s") as caught:
        git.run("-c", "x.y=z", "fetch", "origin", timeout=0.5)
    assert "reachable" in caught.value.hint


def test_git_run_raises_with_the_subcommand_and_stderr(repo: Path) -> None:
    repository = git.Git(sh("rev-parse", "--absolute-git-dir", cwd=repo))
    with pytest.raises(RolloutsError, match=r"^git cat-file failed: fatal"):
        repository.run("-c", "core.quotepath=off", "cat-file", "commit", "no-such-ref")
    assert repository.rev("HEAD") == sh("rev-parse", "HEAD", cwd=repo)
    assert repository.rev("no-such-ref") == ""


def test_repositories_local_remote_and_bare(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git.init_bare(str(bare), "main")
    assert git.is_remote(str(bare), str(repo)) is True
    assert git.is_remote(str(repo), str(repo)) is False
    assert git.is_remote("https://example.com/x.git", str(repo)) is True
    sh("remote", "add", "origin", str(bare), cwd=repo)
    assert git.remote_name("origin", str(repo)) and not git.remote_name("upstream", str(repo))
    with pytest.raises(RolloutsError, match="is not a URL, a remote"):
        git.is_remote("upstream", str(repo))
    assert git.git_dir(str(repo)) == str(repo / ".git")
    assert git.top_level(str(repo / "services")) == str(repo)
    with pytest.raises(RolloutsError, match="is not a git repository"):
        git.git_dir(str(tmp_path))
