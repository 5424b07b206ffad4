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
import dataclasses
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import git as gitlib
from .errors import RolloutsError
from .findings import Finding, Severity
from .git import Git
from .keys import load_private_key
from .project import DERIVED_APP_FOLDERS, Project, load_project
from .render import options_from_project, write_tree
from .stages import Rendered, StageResult, findings_of, lint_and_render, record, render_inputs, sign_and_verify, skipped
from .validate.check import ValidateSettings, validate_stage

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
    allow_dirty: bool = False  # commit a render of uncommitted spec edits (the commit message names them)
    attempts: int = 5
    backoff: float = 0.2


@dataclass
class CommitResult:
    stages: list[StageResult] = field(default_factory=list)  # lint, render, validate, sign, verify, commit: as run
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
    source: str = ""  # the source commit the bundle attests ("" outside git)

    @property
    def findings(self) -> list[Finding]:
        return findings_of(self.stages)

    def stage(self, name: str) -> StageResult | None:
        return next((s for s in self.stages if s.name == name), None)

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


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
    """service -> {"envs": set, "A"/"M"/"D": count, "files": [...]}; paths outside a service dir (the derived folders
    of flux/apps/<env>/ included) are "shared"."""
    groups: dict[str, dict[str, object]] = {}
    for status, path in changes:
        if path == BUNDLE:
            continue
        parts = path.split("/")
        if len(parts) >= 5 and parts[0] == TREE and parts[1] == "apps" and parts[3] not in DERIVED_APP_FOLDERS:
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

def _render(opts: CommitOptions, project: Project) -> Rendered:
    """The lint and render stages, with the same ``spec.verify`` Secret as `rollouts render` (so that
    `render --check` agrees with the commit)."""
    configured = options_from_project(project)
    opts.verify_secret = opts.verify_secret or configured.verify_secret
    options = dataclasses.replace(configured, verify_secret=opts.verify_secret)
    return lint_and_render(project, services=opts.services, options=options)


def _source(opts: CommitOptions, project: Project, out: CommitResult) -> str:
    """The source commit the bundle attests; a spec tree that differs from it is refused (the bundle would name
    HEAD while hashing the edited files), unless ``allow_dirty`` (then the commit message says so) or a dry run."""
    source = gitlib.source(project.root, render_inputs(project))
    if not source.dirty:
        return source.commit or ""
    shown = ", ".join(source.uncommitted[:10]) + (f" and {len(source.uncommitted) - 10} more"
                                                  if len(source.uncommitted) > 10 else "")
    if not opts.allow_dirty and not opts.dry_run:
        raise RolloutsError(
            f"uncommitted changes to what the render reads: {shown}; the bundle would attest the source commit "
            f"{(source.commit or '')[:12]} while hashing the edited files",
            "Commit them first (git add, git commit) and run again; or pass --allow-dirty to "
            "attest the working tree as it is (the commit message names the uncommitted files).")
    out.notes.append(f"the render reads uncommitted changes ({shown}): "
                     + ("attested as such (--allow-dirty)" if opts.allow_dirty else
                        "a real commit refuses this until they are committed (or with --allow-dirty)"))
    return f"{source.commit} with uncommitted changes to {shown}"


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


def _attempt(opts: CommitOptions, git: Git, base: str, rendered: Rendered, work: str, sign_config: list[str],
             out: CommitResult) -> str:
    """Build (and sign) the commit on ``base``: the render written onto the base's flux/, then the validate, sign
    and verify stages; returns the commit id, or "" when there is nothing to commit or a stage failed (then
    ``out.stages`` says which and why)."""
    project = rendered.project
    stage = os.path.join(work, "stage")
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    index = os.path.join(work, "index")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(index)
    _stage(git, base, stage, index)
    write_tree(Project(stage, project.environments), rendered.result, TREE)
    tree = os.path.join(stage, TREE)
    if opts.validate:
        settings = ValidateSettings(schema_dir=opts.schema_dir, skip_kinds=opts.skip_kinds)
        if not record(out.stages, validate_stage(project, tree, rendered.result.origins, settings, shown=TREE)):
            return ""
    else:
        record(out.stages, skipped("validate", "not run (--skip-validate)"))
    if opts.dry_run and opts.key is None:
        # a keyless signature would be a public transparency-log entry for a commit that never happens
        out.notes.append("dry run without --key: the bundle was not signed (keyless signing is for real commits)")
        record(out.stages, skipped("sign", "dry run without --key: not signed"))
        return _changes_only(git, base, stage, index, out)
    signed = sign_and_verify(tree, stage, source=project.root, key_path=opts.key, private_key=_loaded_key(opts),
                             identity_token=opts.identity_token, trust_config=opts.trust_config)
    out.signer = signed.signer
    record(out.stages, signed.sign)
    if not record(out.stages, signed.verify):
        return ""
    return _commit_stage(opts, git, base, stage, index, sign_config, out)


_KEYS: dict[str, object] = {}


def _loaded_key(opts: CommitOptions) -> Any:
    """The decrypted bundle key, once per process (scrypt costs about 0.2 s; retries reuse it)."""
    if opts.key is None:
        return None
    if opts.key not in _KEYS:
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


def _changes_only(git: Git, base: str, stage: str, index: str, out: CommitResult) -> str:
    _add(git, stage, index)
    out.changes = _diff(git, base, index)
    out.message = commit_message(out.changes, out.source, "not signed")
    return ""


def _commit_stage(opts: CommitOptions, git: Git, base: str, stage: str, index: str, sign_config: list[str],
                  out: CommitResult) -> str:
    _add(git, stage, index)
    out.changes = _diff(git, base, index)
    out.message = commit_message(out.changes, out.source, out.signer)
    if not [c for c in out.changes if c[1] != BUNDLE]:
        if not base or _signed(git, base):
            return ""
        # Flux verifies HEAD only: an unsigned HEAD (flux bootstrap's own commit, a hand-made push) keeps the
        # cluster on its last verified artifact until a signed commit lands, even when the render is unchanged
        out.message = (f"rollouts: sign the render of {base[:12]}, which carried no signature\n\n"
                       "Flux verifies HEAD only; this commit holds the same flux/ tree, signed.\n\n"
                       f"Source-commit: {out.source or '(not a git repository)'}\n"
                       f"Bundle: {BUNDLE} ({out.signer})\n")
        out.notes.append(f"HEAD {base[:12]} was not signed: committed the same render signed, so Flux applies it")
    if opts.dry_run:
        return ""
    tree = git.out("write-tree", index=index)
    parents = ["-p", base] if base else []
    ident = _identity_env(git)
    commit = git.run(*sign_config, "commit-tree", "-S", *parents, "-F", "-", tree, input=out.message, env=ident,
                     check=False, timeout=120)
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
    project = load_project(opts.root)
    rendered = _render(opts, project)
    for stage in rendered.stages:
        record(out.stages, stage)
    if not rendered.ok:
        return out
    out.source = _source(opts, project, out)  # before validate and sign: never attest a commit it did not render
    source_root = project.root
    remote = opts.repo is not None and gitlib.is_remote(opts.repo, source_root)
    work = tempfile.mkdtemp(prefix="rollouts-commit-")
    try:
        if remote:
            assert opts.repo is not None
            _commit_remote(opts, rendered, work, sign_config, pub, out)
        else:
            _commit_worktree(opts, opts.repo or source_root, rendered, work, sign_config, pub, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if out.committed:
        record(out.stages, StageResult("commit", detail=f"{out.commit[:12]} on {out.branch} of {out.repo}"))
    elif out.ok:
        record(out.stages, skipped("commit", "dry run: nothing was committed") if opts.dry_run else
               StageResult("commit", detail=f"{out.branch} of {out.repo} already holds this render"))
    if out.committed and secret_key:
        out.notes.append(
            f"Flux verifies HEAD with the Secret flux-system/{opts.verify_secret}; create it once with the public key "
            f"(not in this repository): kubectl -n flux-system create secret generic {opts.verify_secret} "
            f"--from-file={secret_key}=<public key file>")
    return out


def _backoff(opts: CommitOptions, attempt: int) -> None:
    time.sleep(opts.backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))


def _commit_remote(opts: CommitOptions, rendered: Rendered, work: str, sign_config: list[str], pub: str,
                   out: CommitResult) -> None:
    """Fetch, build on the remote tip, push fast-forward; retry from the new tip when rejected. For a remote name
    of the source repository (``origin``) the objects go into that repository, under a private ref of this process,
    so that its URL and credentials apply (e.g. actions/checkout's token); for a URL or path, into a temporary bare
    repository."""
    assert opts.repo is not None
    root = rendered.project.root
    named = gitlib.remote_name(opts.repo, root)
    local_path = not named and "://" not in opts.repo and os.path.isdir(opts.repo)
    url = os.path.abspath(opts.repo) if local_path else opts.repo
    branch = opts.branch or "main"
    out.repo, out.branch = opts.repo, branch
    if named:  # the source repository's remote: its URL and credentials apply, objects go there
        local = gitlib.git_dir(root)
        private = f"refs/rollouts/commit-{os.getpid()}-{random.randrange(1 << 30)}/{branch}"
    else:  # a URL or path: a private temporary repository, the source repository is not touched
        local = os.path.join(work, "repo.git")
        gitlib.init_bare(local)
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
            new = _attempt(opts, git, base, rendered, work, sign_config, out)
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


def _commit_worktree(opts: CommitOptions, path: str, rendered: Rendered, work: str, sign_config: list[str],
                     pub: str, out: CommitResult) -> None:
    git_dir = gitlib.git_dir(path)
    top = gitlib.top_level(path)
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
            new = _attempt(opts, git, base, rendered, work, sign_config, out)
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


SYNC_TMP = ".rollouts-tmp"  # a file of the worktree being replaced: <file>.rollouts-tmp, renamed over <file>


def _clear_leftovers(top: str) -> None:
    """Remove the temporary files a run killed during :func:`_sync_worktree` left beside flux/'s files."""
    leftovers = [os.path.join(top, BUNDLE + SYNC_TMP)]
    for dirpath, _, files in os.walk(os.path.join(top, TREE)):
        leftovers += [os.path.join(dirpath, name) for name in files if name.endswith(SYNC_TMP)]
    for path in leftovers:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _repair_worktree(git: Git, top: str) -> None:
    """Nothing new to commit: make the checked-out flux/ and bundle (index and files) match HEAD again, e.g. after a
    run was killed while it brought the working tree up to date."""
    _clear_leftovers(top)
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
    _clear_leftovers(top)
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
        tmp = target + SYNC_TMP
        shutil.copyfile(os.path.join(stage, *rel.split("/")), tmp)
        os.replace(tmp, target)
    old_files = set(git.out("ls-tree", "-r", "--name-only", base, "--", TREE, BUNDLE).splitlines()) if base else set()
    for rel in sorted(old_files - new_files):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(top, *rel.split("/")))
    git.run("reset", "-q", "HEAD", "--", TREE, BUNDLE, work_tree=top, check=False)
