"""`pre-commit try-repo <this repository> rollouts-lint --files services/*/rollouts.yaml` works, the way another
repository would use the hook: pre-commit installs the package from a git copy of this repository into its own
environment (pip, from PyPI or its cache) and runs `rollouts lint` on the given files."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

PRE_COMMIT = os.path.join(os.path.dirname(sys.executable), "pre-commit")
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True, capture_output=True)


def _copy_of_this_repository(root, dest):
    """The tracked files of the work tree (as they are now), committed in a fresh git repository."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=root, check=True, capture_output=True).stdout
    for name in files.decode().split("\0"):
        if name and os.path.isfile(root / name):
            os.makedirs(os.path.dirname(dest / name) or dest, exist_ok=True)
            shutil.copy2(root / name, dest / name)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "copy")


def _try_repo(hook_repo, cwd, home, *files):
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"}
    env.pop("GITHUB_ACTIONS", None)
    return subprocess.run([PRE_COMMIT, "try-repo", str(hook_repo), "rollouts-lint", "--files", *files],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_pre_commit_try_repo(root, tmp_path):
    hook_repo = tmp_path / "rollouts"
    _copy_of_this_repository(root, hook_repo)
    home = tmp_path / "pre-commit-home"

    specs = sorted(os.path.relpath(p, hook_repo) for p in glob.glob(str(hook_repo / "services/*/rollouts.yaml")))
    assert len(specs) >= 3
    done = _try_repo(hook_repo, hook_repo, home, *specs)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rollouts lint" in done.stdout and "Passed" in done.stdout
    # try-repo installs into a fresh temporary store on every call (about 20 s), so the failing case is left to
    # the fresh-process tests of `rollouts lint` itself, which is what the hook runs.

