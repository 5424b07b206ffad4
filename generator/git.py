"""Every git call of rollouts: the source repository (its commit, uncommitted spec edits, its remotes) and the
GitOps repository that ``rollouts commit`` and ``rollouts pipeline`` write to.

git is found like the other external programs (:func:`generator.tools.find`). A git that is missing, that cannot
start, or that does not finish in time is a user error naming git and what to do, never an internal error; a git
command that fails is the caller's to judge (:func:`run` never raises for the exit status, :meth:`Git.run` does
unless asked not to).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from . import tools
from .errors import RolloutsError, ToolMissing

TIMEOUT = 300.0  # seconds; a fetch or push to a slow remote passes its own
INSTALL_HINT = "Install git (Debian: apt-get install git) or put it on PATH."


def binary() -> str:
    """The git program: the venv's, else the one on PATH."""
    found = tools.find("git")
    if found is None:
        raise ToolMissing("git is not installed", INSTALL_HINT)
    return found


def _subcommand(args: tuple[str, ...]) -> str:
    """``commit-tree`` in ``-c gpg.format=ssh commit-tree -S ...``: what an error message calls the command."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-c", "-C"):
            skip = True
        elif not arg.startswith("-"):
            return arg
    return args[0] if args else ""


def run(*args: str, cwd: str | None = None, env: dict[str, str] | None = None, input: str | None = None,
        timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``git ARGS`` to completion, text output captured, never prompting for credentials; never raises for its exit
    status. ``env`` replaces the environment (default: this process's)."""
    argv = [binary(), *args]
    environment = {**(os.environ if env is None else env), "GIT_TERMINAL_PROMPT": "0"}
    try:
        return subprocess.run(argv, cwd=cwd, env=environment, input=input, capture_output=True, text=True,
                              check=False, timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RolloutsError(f"git {_subcommand(args)} did not finish within {timeout:g} s",
                            "Check that the repository is reachable (a remote that does not answer, a lock held "
                            "by another git process), then run again.") from None
    except FileNotFoundError:
        raise ToolMissing("git is not installed", INSTALL_HINT) from None
    except OSError as e:
        raise RolloutsError(f"cannot run git: {e.strerror or e}", INSTALL_HINT) from None


class Git:
    """git against one repository (``git_dir``), with optional private index and work tree."""

    def __init__(self, git_dir: str, env: dict[str, str] | None = None, config: list[str] | None = None) -> None:
        binary()  # a missing git fails here, before any work
        self.git_dir = git_dir
        self.env = {**os.environ, **(env or {}), "GIT_TERMINAL_PROMPT": "0"}
        self.config = config or []

    def run(self, *args: str, index: str | None = None, work_tree: str | None = None, check: bool = True,
            input: str | None = None, timeout: float = TIMEOUT,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Pathspecs are relative to ``work_tree`` (git runs there) when one is given; ``env`` adds variables."""
        environment = {**self.env, **(env or {})}
        if index:
            environment["GIT_INDEX_FILE"] = index
        prefix = [f"--git-dir={self.git_dir}"]
        if work_tree:
            prefix.append(f"--work-tree={work_tree}")
        out = run(*prefix, *self.config, *args, cwd=work_tree, env=environment, input=input, timeout=timeout)
        if check and out.returncode != 0:
            raise RolloutsError(f"git {_subcommand(args)} failed: {out.stderr.strip()[:500]}")
        return out

    def out(self, *args: str, index: str | None = None, work_tree: str | None = None) -> str:
        return self.run(*args, index=index, work_tree=work_tree).stdout.strip()

    def rev(self, ref: str) -> str:
        return self.run("rev-parse", "--verify", "-q", ref + "^{commit}", check=False).stdout.strip()


# --- repositories -------------------------------------------------------------------------------------------------

def remote_name(repo: str, root: str) -> bool:
    """True when ``repo`` names a remote of the repository at ``root`` (e.g. ``origin``)."""
    if os.sep in repo or repo.startswith("."):
        return False
    return run("-C", root, "remote", "get-url", repo).returncode == 0


def is_remote(repo: str, root: str = ".") -> bool:
    """``repo`` is pushed to (a URL, a remote of ``root``, or a bare repository), not committed in place."""
    if "://" in repo or (":" in repo and "@" in repo.split(":", 1)[0]) or remote_name(repo, root):
        return True
    if not os.path.isdir(repo):
        raise RolloutsError(f"--repo {repo} is not a URL, a remote of {root}, or a directory")
    out = run("-C", repo, "rev-parse", "--is-bare-repository")
    if out.returncode != 0:
        raise RolloutsError(f"--repo {repo} is not a git repository", "Pass a clone, a bare repository or a URL.")
    return out.stdout.strip() == "true"


def git_dir(path: str) -> str:
    """The absolute git directory of the repository at ``path``."""
    out = run("-C", path, "rev-parse", "--absolute-git-dir")
    if out.returncode != 0:
        raise RolloutsError(f"{path} is not a git repository",
                            "Run `git init` first, or pass --repo with the GitOps repository.")
    return out.stdout.strip()


def top_level(path: str) -> str:
    """The working tree's top directory (``path`` itself outside a working tree)."""
    return run("-C", path, "rev-parse", "--show-toplevel").stdout.strip() or os.path.abspath(path)


def init_bare(path: str, branch: str | None = None) -> None:
    """A new bare repository at ``path`` (its first branch ``branch``)."""
    out = run("init", "-q", "--bare", *(["-b", branch] if branch else []), path)
    if out.returncode != 0:
        raise RolloutsError(f"cannot create the git repository {path}: {out.stderr.strip()[:300]}")


# --- the source repository -------------------------------------------------------------------------------------------

def source_commit(root: str) -> str | None:
    """HEAD of the git repository at ``root``, or None outside git (or without git)."""
    try:
        out = run("rev-parse", "--verify", "-q", "HEAD", cwd=root, timeout=30)
    except RolloutsError:
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def uncommitted(root: str, paths: list[str]) -> list[str]:
    """Files under ``paths`` (relative to ``root``) that differ from HEAD: modified, staged, deleted or untracked
    (not ignored), as the repository names them. [] outside git."""
    try:
        out = run("status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *paths, cwd=root, timeout=60)
    except RolloutsError:
        return []
    if out.returncode != 0:
        return []
    entries = out.stdout.split("\0")
    found: list[str] = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        found.append(entry[3:])
        if entry[0] in "RC":  # a rename or copy: the original path follows
            i += 1
    return sorted(set(found))


@dataclass(frozen=True)
class Source:
    """What a render is made from: the source commit (None outside git) and the files under the render's inputs
    that differ from it."""

    commit: str | None
    uncommitted: tuple[str, ...] = ()

    @property
    def dirty(self) -> bool:
        return bool(self.uncommitted)


def source(root: str, paths: list[str]) -> Source:
    """The source commit of ``root`` and the uncommitted files under ``paths`` (none when there is no commit)."""
    commit = source_commit(root)
    return Source(commit, tuple(uncommitted(root, paths)) if commit else ())
