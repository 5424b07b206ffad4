"""``rollouts commit``: check, sign, verify, then commit ``flux/`` and its bundle to the GitOps repository.

Each attempt works from the branch tip as it is *now*, without touching the user's index or working tree:

1. the base commit: ``refs/heads/B`` of this repository (worktree mode), or the remote branch fetched into a
   private temporary repository (remote mode: ``--repo URL`` or a bare repository);
2. the base's ``flux/`` is checked out into a temporary stage (a private index), the render is written into it
   with :func:`generator.render.write_tree` (a ``--service`` render replaces only that service's directories);
3. the stage is validated, signed and verified; any error stops here and nothing is committed;
4. the commit is built with plumbing (``write-tree``, ``commit-tree -S``: SSH or OpenPGP signed) and published
   atomically: ``update-ref`` with the old value (worktree) or a fast-forward ``push`` (remote). When another job
   moved the branch first, the attempt starts over from the new tip (fetch, re-apply, re-sign: a rebase that
   cannot conflict), at most ``attempts`` times with jittered exponential backoff.

A process killed at any point leaves the GitOps branch at the old or the new commit, never in between; the
temporary stage and private repository are the only leftovers (under the system temp directory).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import RolloutsError, ToolMissing
from .findings import Finding, Severity

BUNDLE = "flux.sigstore.json"
TREE = "flux"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@dataclass
class CommitOptions:
    root: str = "."  # the source repository: services/*/rollouts.yaml
    repo: str | None = None  # GitOps repository: None = this one; a working copy path; a URL or bare repository
    branch: str | None = None  # default: the current branch (worktree) or main (remote)
    services: list[str] | None = None
    key: str | None = None  # cosign key for the bundle; None = keyless (ambient OIDC)
    identity_token: str | None = None
    trust_config: str | None = None
    ssh_signing_key: str | None = None
    gpg_key: str | None = None
    verify_secret: str | None = None  # default: the render setting (rollouts.project.yaml render.verifySecret)
    schema_dir: str | None = None
    skip_kinds: tuple[str, ...] = ()
    validate: bool = True
    dry_run: bool = False
    attempts: int = 5
    backoff: float = 0.2


@dataclass
class CommitResult:
    findings: list[Finding] = field(default_factory=list)
    committed: bool = False
    commit: str = ""
    base: str = ""
    branch: str = ""
    repo: str = ""
    attempts: int = 0
    message: str = ""
    changes: list[tuple[str, str]] = field(default_factory=list)  # (A|M|D, path)
    signer: str = ""
    notes: list[str] = field(default_factory=list)  # what was skipped or needs doing (e.g. the Flux Secret)

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


# --- git ----------------------------------------------------------------------------------------------------------

class Git:
    """git against one repository (``git_dir``), with optional private index and work tree."""

    def __init__(self, git_dir: str, env: dict[str, str] | None = None, config: list[str] | None = None) -> None:
        if shutil.which("git") is None:
            raise ToolMissing("git is not installed", "Install git (Debian: apt-get install git).")
        self.git_dir = git_dir
        self.env = {**os.environ, **(env or {}), "GIT_TERMINAL_PROMPT": "0"}
        self.config = config or []

    def run(self, *args: str, index: str | None = None, work_tree: str | None = None, check: bool = True,
            input: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Pathspecs are relative to ``work_tree`` (git runs there) when one is given."""
        env = dict(self.env)
        if index:
            env["GIT_INDEX_FILE"] = index
        cmd = ["git", f"--git-dir={self.git_dir}"]
        if work_tree:
            cmd.append(f"--work-tree={work_tree}")
        out = subprocess.run([*cmd, *self.config, *args], env=env, text=True, capture_output=True, input=input,
                             check=False, timeout=timeout, cwd=work_tree)
        if check and out.returncode != 0:
            raise RolloutsError(f"git {args[0]} failed: {out.stderr.strip()[:500]}")
        return out

    def out(self, *args: str, index: str | None = None, work_tree: str | None = None) -> str:
        return self.run(*args, index=index, work_tree=work_tree).stdout.strip()

    def rev(self, ref: str) -> str:
        return self.run("rev-parse", "--verify", "-q", ref + "^{commit}", check=False).stdout.strip()


def _remote_name(repo: str, root: str) -> bool:
    """True when ``repo`` names a remote of the source repository (e.g. ``origin``)."""
    if os.sep in repo or repo.startswith("."):
        return False
    out = subprocess.run(["git", "-C", root, "remote", "get-url", repo], capture_output=True, text=True,
                         check=False)
    return out.returncode == 0


def _is_remote(repo: str, root: str = ".") -> bool:
    if "://" in repo or (":" in repo and "@" in repo.split(":", 1)[0]) or _remote_name(repo, root):
        return True
    if not os.path.isdir(repo):
        raise RolloutsError(f"--repo {repo} is not a URL, a remote of {root}, or a directory")
    out = subprocess.run(["git", "-C", repo, "rev-parse", "--is-bare-repository"], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise RolloutsError(f"--repo {repo} is not a git repository", "Pass a clone, a bare repository or a URL.")
    return out.stdout.strip() == "true"


def _git_dir(path: str) -> str:
    out = subprocess.run(["git", "-C", path, "rev-parse", "--absolute-git-dir"], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise RolloutsError(f"{path} is not a git repository",
                            "Run `git init` first, or pass --repo with the GitOps repository.")
    return out.stdout.strip()


def _top_level(path: str) -> str:
    out = subprocess.run(["git", "-C", path, "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                         check=False)
    return out.stdout.strip() or os.path.abspath(path)


@contextlib.contextmanager
def _flock(path: str) -> Iterator[None]:
    """Serialise commits into one local repository (released by the kernel if the process dies)."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- commit signing -----------------------------------------------------------------------------------------------

def signing_config(opts: CommitOptions) -> tuple[list[str], str, str]:
    """(git -c options, public key text, Flux Secret key name) for the commit signature."""
    if opts.ssh_signing_key and opts.gpg_key:
        raise RolloutsError("--signing-key and --gpg-key are exclusive")
    if opts.ssh_signing_key:
        key = os.path.abspath(opts.ssh_signing_key)
        if not os.path.isfile(key):
            raise RolloutsError(f"the SSH signing key {opts.ssh_signing_key} does not exist")
        pub_path = key + ".pub"
        if os.path.isfile(pub_path):
            with open(pub_path, encoding="utf-8") as fh:
                pub = fh.read().strip()
        else:
            out = subprocess.run(["ssh-keygen", "-y", "-f", key], capture_output=True, text=True, check=False,
                                 stdin=subprocess.DEVNULL)
            if out.returncode != 0:
                raise RolloutsError(f"cannot read the public half of {opts.ssh_signing_key}",
                                    f"Put it beside the key as {opts.ssh_signing_key}.pub.")
            pub = out.stdout.strip()
        return ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"], pub, "git.sshpub"
    if opts.gpg_key:
        out = subprocess.run(["gpg", "--batch", "--armor", "--export", opts.gpg_key], capture_output=True,
                             text=True, check=False)
        if out.returncode != 0 or "BEGIN PGP PUBLIC KEY BLOCK" not in out.stdout:
            raise RolloutsError(f"no OpenPGP public key {opts.gpg_key} in the keyring")
        return ["-c", "gpg.format=openpgp", "-c", f"user.signingkey={opts.gpg_key}"], out.stdout, "git.asc"
    raise RolloutsError("the commit must be signed so that Flux can verify it",
                        "Pass --signing-key SSH_PRIVATE_KEY (git gpg.format=ssh) or --gpg-key KEY_ID.")


def _check_signature(git: Git, commit: str, config: list[str], pub: str, work: str) -> None:
    """git verify-commit on what we just made, with an allowed-signers file built from the public key."""
    extra: list[str] = []
    if "gpg.format=ssh" in config:
        allowed = os.path.join(work, "allowed_signers")
        with open(allowed, "w", encoding="utf-8") as fh:
            fh.write(f'* namespaces="git" {pub}\n')
        extra = ["-c", "gpg.format=ssh", "-c", f"gpg.ssh.allowedSignersFile={allowed}"]
    out = git.run(*extra, "verify-commit", commit, check=False)
    if out.returncode != 0:
        raise RolloutsError(f"the signature of the new commit does not verify: {out.stderr.strip()[:300]}")


# --- the summary --------------------------------------------------------------------------------------------------

def group_changes(changes: list[tuple[str, str]]) -> dict[str, dict[str, object]]:
    """service -> {"envs": set, "A"/"M"/"D": count, "files": [...]}; paths outside a service dir are "shared"."""
    groups: dict[str, dict[str, object]] = {}
    for status, path in changes:
        if path == BUNDLE:
            continue
        parts = path.split("/")
        if len(parts) >= 5 and parts[0] == TREE and parts[1] == "apps" and parts[3] != "namespaces":
            name, env = parts[3], parts[2]
        else:
            name, env = "shared", ""
        group = groups.setdefault(name, {"envs": set(), "A": 0, "M": 0, "D": 0, "files": []})
        if env:
            group["envs"].add(env)  # type: ignore[attr-defined]
        group[status] = int(group.get(status, 0)) + 1  # type: ignore[call-overload]
        group["files"].append(f"{status} {path}")  # type: ignore[attr-defined]
    return dict(sorted(groups.items(), key=lambda kv: (kv[0] == "shared", kv[0])))


def commit_message(changes: list[tuple[str, str]], source: str | None, signer: str) -> str:
    groups = group_changes(changes)
    services = [name for name in groups if name != "shared"]
    files = sum(1 for _, p in changes if p != BUNDLE)
    title = f"rollouts: render {', '.join(services) if services else 'shared manifests'} ({files} files)"
    lines = [title, ""]
    words = {"A": "added", "M": "modified", "D": "deleted"}
    for name, g in groups.items():
        counts = ", ".join(f"{g[k]} {w}" for k, w in words.items() if g[k])
        envs = sorted(g["envs"])  # type: ignore[call-overload]
        lines.append(f"{name}{' (' + ', '.join(envs) + ')' if envs else ''}: {counts}")
        listed = g["files"]
        assert isinstance(listed, list)
        lines += [f"  {f}" for f in listed[:20]]
        if len(listed) > 20:
            lines.append(f"  ... and {len(listed) - 20} more")
    lines += ["", f"Source-commit: {source or '(not a git repository)'}", f"Bundle: {BUNDLE} ({signer})", ""]
    return "\n".join(lines)


# --- one attempt ----------------------------------------------------------------------------------------------------

def _check_render(opts: CommitOptions) -> tuple[object, object, list[Finding]]:
    """(project, render result, findings): lint + render through the render API."""
    import dataclasses

    from .project import load_project
    from .render import options_from_project, render

    project = load_project(opts.root)
    configured = options_from_project(project)
    # the same setting as `rollouts render`, so that `render --check` agrees with the commit
    secret = opts.verify_secret or configured.verify_secret
    opts.verify_secret = secret
    options = dataclasses.replace(configured, verify_secret=secret)
    result = render(project, services=opts.services, options=options)
    return project, result, list(result.findings)


def _stage(git: Git, base: str, stage: str, index: str) -> None:
    """Check out the base's flux/ (and nothing else) into ``stage`` with a private index."""
    if base:
        git.run("read-tree", base, index=index)
        listed = git.run("ls-files", "-z", "--", TREE, BUNDLE, index=index, work_tree=stage).stdout
        if listed:
            git.run("checkout-index", "-f", "-z", "--stdin", f"--prefix={stage}/", index=index, work_tree=stage,
                    input=listed)
    else:
        git.run("read-tree", "--empty", index=index)


def _attempt(opts: CommitOptions, git: Git, base: str, project: object, result: object, work: str,
             sign_config: list[str], out: CommitResult) -> str:
    """Build (and sign) the commit on ``base``; returns its id, or "" when there is nothing to commit or a step
    failed (then ``out.findings`` says why)."""
    from .project import Project
    from .render import write_tree
    from .sign import sign_tree
    from .verify import Policy, verify_tree

    assert isinstance(project, Project)
    stage = os.path.join(work, "stage")
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    index = os.path.join(work, "index")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(index)
    _stage(git, base, stage, index)
    write_tree(Project(stage, project.environments), result, TREE)  # type: ignore[arg-type]
    tree = os.path.join(stage, TREE)
    if opts.validate:
        from .validate import validate

        origins = getattr(result, "origins", None)
        out.findings += validate(project, tree_dir=tree, origins=origins, schema_dir=opts.schema_dir,
                                 skip_kinds=opts.skip_kinds)
        if not out.ok:
            return ""
    if opts.dry_run and opts.key is None:
        # a keyless signature would be a public transparency-log entry for a commit that never happens
        out.notes.append("dry run without --key: the bundle was not signed (keyless signing is for real commits)")
        return _changes_only(git, base, stage, index, project, out)
    signed = sign_tree(tree, stage, key_path=opts.key, identity_token=opts.identity_token,
                       trust_config=opts.trust_config, source=project.root, private_key=_loaded_key(opts))
    if signed.mode == "key":
        assert opts.key is not None
        policy = Policy(public_key=_loaded_key(opts).public_key())  # the public half of the key that signed
        out.signer = f"key {signed.identity}"
    else:
        from .verify import bundle_signer

        identity, issuer = bundle_signer(signed.bundle_path)  # re-check our own bundle: chain, signature, digests
        policy = Policy(identity=identity, issuer=issuer, issuer_regexp=".*" if issuer is None else None)
        out.signer = f"keyless {identity}"
    checked = verify_tree(tree, policy, stage)
    out.findings += checked.findings
    if not out.ok:
        return ""
    return _commit_stage(opts, git, base, stage, index, project, sign_config, out)


_KEYS: dict[str, object] = {}


def _loaded_key(opts: CommitOptions) -> Any:
    """The decrypted bundle key, once per process (scrypt costs about 0.2 s; retries reuse it)."""
    if opts.key is None:
        return None
    if opts.key not in _KEYS:
        from .keys import load_private_key

        _KEYS[opts.key] = load_private_key(opts.key)
    return _KEYS[opts.key]


def _diff(git: Git, base: str, index: str) -> list[tuple[str, str]]:
    text = git.out("diff-index", "--cached", "--name-status", "--no-renames", base or EMPTY_TREE, index=index)
    changes = []
    for line in text.splitlines():
        status, _, path = line.partition("\t")
        changes.append((status[:1], path))
    return changes


def _add(git: Git, stage: str, index: str) -> None:
    """Stage flux/ and the bundle as they are in the stage: additions, changes and deletions."""
    paths = [p for p in (TREE, BUNDLE) if os.path.exists(os.path.join(stage, p))]
    git.run("add", "-A", "-f", "--", *paths, index=index, work_tree=stage)


def _changes_only(git: Git, base: str, stage: str, index: str, project: object, out: CommitResult) -> str:
    _add(git, stage, index)
    out.changes = _diff(git, base, index)
    from .sign import source_commit

    root = getattr(project, "root", ".")
    out.message = commit_message(out.changes, source_commit(root), "not signed")
    return ""


def _commit_stage(opts: CommitOptions, git: Git, base: str, stage: str, index: str, project: object,
                  sign_config: list[str], out: CommitResult) -> str:
    from .sign import source_commit

    _add(git, stage, index)
    out.changes = _diff(git, base, index)
    root = getattr(project, "root", ".")
    out.message = commit_message(out.changes, source_commit(root), out.signer)
    if not [c for c in out.changes if c[1] != BUNDLE]:
        if not base or _signed(git, base):
            return ""
        # Flux verifies HEAD only: an unsigned HEAD (flux bootstrap's own commit, a hand-made push) keeps the
        # cluster on its last verified artifact until a signed commit lands, even when the render is unchanged
        out.message = (f"rollouts: sign the render of {base[:12]}, which carried no signature\n\n"
                       "Flux verifies HEAD only; this commit holds the same flux/ tree, signed.\n\n"
                       f"Source-commit: {source_commit(root) or '(not a git repository)'}\n"
                       f"Bundle: {BUNDLE} ({out.signer})\n")
        out.notes.append(f"HEAD {base[:12]} was not signed: committed the same render signed, so Flux applies it")
    if opts.dry_run:
        return ""
    tree = git.out("write-tree", index=index)
    parents = ["-p", base] if base else []
    ident = _identity_env(git)
    commit = subprocess.run(["git", f"--git-dir={git.git_dir}", *sign_config, "commit-tree", "-S", *parents,
                             "-F", "-", tree], input=out.message, text=True, capture_output=True,
                            env={**git.env, **ident}, check=False, timeout=120)
    if commit.returncode != 0:
        raise RolloutsError(f"git commit-tree (signed) failed: {commit.stderr.strip()[:500]}",
                            "Check the signing key: an SSH key without a passphrase or in ssh-agent, or a gpg key "
                            "usable without a prompt.")
    return commit.stdout.strip()


def _signed(git: Git, commit: str) -> bool:
    """The commit carries an SSH or OpenPGP signature (which key made it is Flux's check, not ours)."""
    header = git.out("cat-file", "commit", commit).split("\n\n", 1)[0]
    return any(line.startswith("gpgsig") for line in header.splitlines())


def _identity_env(git: Git) -> dict[str, str]:
    """Author/committer from git config, else "rollouts <rollouts@localhost>"."""
    env: dict[str, str] = {}
    if not git.run("config", "user.name", check=False).stdout.strip() and "GIT_AUTHOR_NAME" not in git.env:
        env.update(GIT_AUTHOR_NAME="rollouts", GIT_COMMITTER_NAME="rollouts")
    if not git.run("config", "user.email", check=False).stdout.strip() and "GIT_AUTHOR_EMAIL" not in git.env:
        env.update(GIT_AUTHOR_EMAIL="rollouts@localhost", GIT_COMMITTER_EMAIL="rollouts@localhost")
    return env


# --- the command ------------------------------------------------------------------------------------------------------

def commit(opts: CommitOptions) -> CommitResult:
    """Check, render, validate, sign, verify and commit; see the module docstring."""
    out = CommitResult()
    sign_config: list[str] = []
    pub = ""
    secret_key = ""
    if not opts.dry_run or opts.ssh_signing_key or opts.gpg_key:
        sign_config, pub, secret_key = signing_config(opts)  # before anything slow: refuse unsigned commits now
    _loaded_key(opts)  # a wrong COSIGN_PASSWORD fails before the render
    project, result, findings = _check_render(opts)
    out.findings += findings
    if not out.ok:
        return out
    source_root = getattr(project, "root", os.path.abspath(opts.root))
    remote = opts.repo is not None and _is_remote(opts.repo, source_root)
    work = tempfile.mkdtemp(prefix="rollouts-commit-")
    try:
        if remote:
            assert opts.repo is not None
            _commit_remote(opts, project, result, work, sign_config, pub, out)
        else:
            _commit_worktree(opts, opts.repo or source_root, project, result, work, sign_config, pub, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if out.committed and secret_key:
        out.notes.append(
            f"Flux verifies HEAD with the Secret flux-system/{opts.verify_secret}; create it once with the public key "
            f"(not in this repository): kubectl -n flux-system create secret generic {opts.verify_secret} "
            f"--from-file={secret_key}=<public key file>")
    return out


def _backoff(opts: CommitOptions, attempt: int) -> None:
    time.sleep(opts.backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))


def _commit_remote(opts: CommitOptions, project: object, result: object, work: str, sign_config: list[str],
                   pub: str, out: CommitResult) -> None:
    """Fetch, build on the remote tip, push fast-forward; retry from the new tip when rejected. For a remote name
    of the source repository (``origin``) the objects go into that repository, under a private ref of this process,
    so that its URL and credentials apply (e.g. actions/checkout's token); for a URL or path, into a temporary bare
    repository."""
    assert opts.repo is not None
    root = str(getattr(project, "root", opts.root))
    named = _remote_name(opts.repo, root)
    local_path = not named and "://" not in opts.repo and os.path.isdir(opts.repo)
    url = os.path.abspath(opts.repo) if local_path else opts.repo
    branch = opts.branch or "main"
    out.repo, out.branch = opts.repo, branch
    if named:  # the source repository's remote: its URL and credentials apply, objects go there
        local = _git_dir(root)
        private = f"refs/rollouts/commit-{os.getpid()}-{random.randrange(1 << 30)}/{branch}"
    else:  # a URL or path: a private temporary repository, the source repository is not touched
        local = os.path.join(work, "repo.git")
        subprocess.run(["git", "init", "-q", "--bare", local], check=True, capture_output=True)
        private = f"refs/remotes/origin/{branch}"
    git = Git(local)
    try:
        for attempt in range(1, opts.attempts + 1):
            out.attempts = attempt
            fetched = git.run("fetch", "-q", "--no-tags", "--no-write-fetch-head", url,
                              f"+refs/heads/{branch}:{private}", check=False, timeout=600)
            if fetched.returncode != 0 and "couldn't find remote ref" not in fetched.stderr:
                raise RolloutsError(f"cannot fetch {opts.repo}: {fetched.stderr.strip()[:300]}")
            base = git.rev(private) if fetched.returncode == 0 else ""
            out.base = base
            new = _attempt(opts, git, base, project, result, work, sign_config, out)
            if not new:
                return
            _check_signature(git, new, sign_config, pub, work)
            pushed = git.run("push", "-q", "--porcelain", url, f"{new}:refs/heads/{branch}", check=False,
                             timeout=600)
            if pushed.returncode == 0:
                out.committed, out.commit = True, new
                return
            said = pushed.stdout + pushed.stderr
            if not any(word in said for word in ("rejected", "fetch first", "lock", "non-fast-forward")):
                raise RolloutsError(f"cannot push to {opts.repo}: {pushed.stderr.strip()[:300]}")
            if attempt < opts.attempts:
                _backoff(opts, attempt)
    finally:
        if private.startswith("refs/rollouts/"):
            git.run("update-ref", "-d", private, check=False)
    raise RolloutsError(f"{branch} at {opts.repo} kept moving: gave up after {opts.attempts} attempts",
                        "Another job is committing continuously; run again.")


def _commit_worktree(opts: CommitOptions, path: str, project: object, result: object, work: str,
                     sign_config: list[str], pub: str, out: CommitResult) -> None:
    git_dir = _git_dir(path)
    top = _top_level(path)
    git = Git(git_dir)
    current = git.run("symbolic-ref", "-q", "--short", "HEAD", check=False).stdout.strip()
    branch = opts.branch or current
    if not branch:
        raise RolloutsError(f"{top} has a detached HEAD", "Pass --branch.")
    out.repo, out.branch = top, branch
    with _flock(os.path.join(git_dir, "rollouts-commit.lock")):
        for attempt in range(1, opts.attempts + 1):
            out.attempts = attempt
            base = git.rev(f"refs/heads/{branch}") or git.rev("HEAD")
            out.base = base
            new = _attempt(opts, git, base, project, result, work, sign_config, out)
            if not new:
                if out.ok and not opts.dry_run and branch == current and base:
                    _repair_worktree(git, top)
                return
            _check_signature(git, new, sign_config, pub, work)
            moved = git.run("update-ref", "-m", "rollouts commit", f"refs/heads/{branch}", new, base or "",
                            check=False)
            if moved.returncode == 0:
                out.committed, out.commit = True, new
                if branch == current:
                    _sync_worktree(git, top, work, base)
                return
            if attempt < opts.attempts:
                _backoff(opts, attempt)
    raise RolloutsError(f"{branch} kept moving: gave up after {opts.attempts} attempts")


def _repair_worktree(git: Git, top: str) -> None:
    """Nothing new to commit: make the checked-out flux/ and bundle (index and files) match HEAD again, e.g. after a
    run was killed while it brought the working tree up to date."""
    present = git.out("ls-tree", "--name-only", "HEAD", "--", TREE, BUNDLE).splitlines()
    if not present:
        return
    changed = git.run("diff", "--quiet", "HEAD", "--", *present, work_tree=top, check=False).returncode != 0
    if changed:
        git.run("reset", "-q", "HEAD", "--", *present, work_tree=top, check=False)
        git.run("checkout", "-q", "-f", "HEAD", "--", *present, work_tree=top)


def _sync_worktree(git: Git, top: str, work: str, base: str) -> None:
    """Bring the checked-out flux/ and bundle (files and index) to the new commit; each file is replaced
    atomically, so an interrupted sync leaves whole files that a re-run or `git checkout` repairs."""
    stage = os.path.join(work, "stage")
    new_files: set[str] = set()
    for dirpath, _, files in os.walk(os.path.join(stage, TREE)):
        for name in files:
            new_files.add(os.path.relpath(os.path.join(dirpath, name), stage).replace(os.sep, "/"))
    if os.path.exists(os.path.join(stage, BUNDLE)):
        new_files.add(BUNDLE)
    for rel in sorted(new_files):
        target = os.path.join(top, *rel.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.rollouts-tmp"
        shutil.copyfile(os.path.join(stage, *rel.split("/")), tmp)
        os.replace(tmp, target)
    old_files = set(git.out("ls-tree", "-r", "--name-only", base, "--", TREE, BUNDLE).splitlines()) if base else set()
    for rel in sorted(old_files - new_files):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(top, *rel.split("/")))
    git.run("reset", "-q", "HEAD", "--", TREE, BUNDLE, work_tree=top, check=False)
