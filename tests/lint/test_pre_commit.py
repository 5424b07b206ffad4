"""`pre-commit try-repo <this repository> rollouts-lint --files services/*/rollouts.yaml` works, the way another
repository would use the hook: pre-commit installs the package from a git copy of this repository into its own
environment (pip, from PyPI or its cache) and runs `rollouts lint` on the given files."""

from __future__ import annotations

import glob
import os
import re
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



# The hooks as a pre-commit user gets them, run by real pre-commit without the install step: each hook of
# .pre-commit-hooks.yaml as a local `language: system` hook whose entry is this virtualenv's command.
BIN = os.path.dirname(sys.executable)
README_HOOK = re.compile(r"^\s*- id: ([a-z-]+)", re.M)


def _offered_hooks(root, ids):
    import yaml

    offered = {h["id"]: h for h in yaml.safe_load((root / ".pre-commit-hooks.yaml").read_text())}
    hooks = []
    for hook_id in ids:
        hook = {**offered[hook_id], "language": "system"}
        hook["entry"] = os.path.join(BIN, hook["entry"])
        hook.pop("description", None)
        hooks.append(hook)
    return hooks


def _readme_hooks(root):
    """The hook ids the README's pre-commit example enables (commented-out lines are alternatives)."""
    text = (root / "README.md").read_text()
    block = text.split("## pre-commit", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    return README_HOOK.findall(block)


def _project_with(root, tmp_path, edit):
    """A copy of this repository with one spec edited (the edit committed: pre-commit runs on tracked files)."""
    repo = tmp_path / "project"
    _copy_of_this_repository(root, repo)
    os.symlink(root / ".venv", repo / ".venv")
    spec = repo / "services" / "checkout" / "rollouts.yaml"
    spec.write_text(edit(spec.read_text()))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "edit")
    return repo


def _run(repo, home, config=None):
    import yaml

    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"}
    env.pop("GITHUB_ACTIONS", None)
    args = [PRE_COMMIT, "run", "--all-files", "--color", "never"]
    if config is not None:
        path = repo.parent / "hooks.yaml"
        path.write_text(yaml.safe_dump({"repos": [{"repo": "local", "hooks": config}]}))
        args += ["--config", str(path)]
    return subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, timeout=600, check=False)


def _typo(text):
    return text.replace("  strategy:\n", "  strategyy:\n", 1)


def test_the_readme_hooks_report_a_lint_error_once(root, tmp_path):
    repo = _project_with(root, tmp_path, _typo)
    ids = _readme_hooks(root)
    assert "rollouts-render-check" in ids
    done = _run(repo, tmp_path / "home", _offered_hooks(root, ids))
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count("(schema-unknown-key)") == 1, done.stdout


def test_this_repositorys_hooks_report_a_lint_error_once(root, tmp_path):
    repo = _project_with(root, tmp_path, _typo)
    done = _run(repo, tmp_path / "home")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count("(schema-unknown-key)") == 1, done.stdout


def test_rollouts_check_shows_its_warnings_when_it_passes(root, tmp_path):
    """A passing hook's output is hidden by pre-commit unless the hook is verbose: a check that did not run
    (kustomize-unchecked, promql-unchecked) or any other warning would go unseen."""
    repo = _project_with(root, tmp_path, lambda t: t.replace("autoscaling: {minReplicas: 2, maxReplicas: 10",
                                                               "autoscaling: {minReplicas: 1, maxReplicas: 10", 1))
    subprocess.run([os.path.join(BIN, "rollouts"), "render"], cwd=repo, check=True, capture_output=True)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "render")
    done = _run(repo, tmp_path / "home", _offered_hooks(root, ["rollouts-check"]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Passed" in done.stdout and "(min-replicas)" in done.stdout, done.stdout
