"""rollouts commit against real git: a bare remote in tmp, SSH-signed commits, concurrent jobs, SIGKILL, and no
private key anywhere in the repository or the output."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
ROLLOUTS = str(Path(sys.executable).parent / "rollouts")
SERVICES = ("billing-worker", "checkout", "frontend", "payments")


def git_env(home: Path) -> dict[str, str]:
    return {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "ci",
            "GIT_AUTHOR_EMAIL": "ci@example.com", "GIT_COMMITTER_NAME": "ci", "GIT_COMMITTER_EMAIL": "ci@example.com",
            "COSIGN_PASSWORD": PASSWORD, "NO_COLOR": "1"}


def git(*args: str, cwd: Path, env: dict[str, str]) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, f"git {args}: {out.stderr}"
    return out.stdout.strip()


class Lab:
    """A source repository with four services, a bare GitOps remote, an SSH commit key and a cosign key."""

    def __init__(self, tmp: Path, key_pair: tuple[str, str]) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.home.mkdir()
        self.env = git_env(self.home)
        self.cosign_key, self.cosign_pub = key_pair
        self.remote = tmp / "gitops.git"
        git("init", "-q", "--bare", "-b", "main", str(self.remote), cwd=tmp, env=self.env)
        self.ssh_key = tmp / "bot"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bot", "-f", str(self.ssh_key)],
                       check=True, capture_output=True)
        self.allowed = tmp / "allowed_signers"
        self.allowed.write_text(f"* {(tmp / 'bot.pub').read_text().strip()}\n")
        self.source = self.make_source("source")

    def make_source(self, name: str) -> Path:
        src = self.tmp / name
        (src / "services").mkdir(parents=True)
        for service in ("billing-worker", "checkout", "frontend"):
            shutil.copytree(ROOT / "services" / service, src / "services" / service)
        payments = (ROOT / "services/checkout/rollouts.yaml").read_text().replace("name: checkout", "name: payments")
        (src / "services/payments").mkdir()
        (src / "services/payments/rollouts.yaml").write_text(payments)
        git("init", "-q", "-b", "main", cwd=src, env=self.env)
        git("add", "-A", cwd=src, env=self.env)
        git("-c", "commit.gpgsign=false", "commit", "-q", "-m", "specs", cwd=src, env=self.env)
        return src

    def bump(self, src: Path, service: str, tag: str) -> None:
        path = src / "services" / service / "rollouts.yaml"
        text = re.sub(r"(\n      tag: ).*\n", rf"\g<1>{tag}\n", path.read_text(), count=1)
        path.write_text(text)
        git("-c", "commit.gpgsign=false", "commit", "-q", "-am", f"{service} {tag}", cwd=src, env=self.env)

    def commit_args(self, *extra: str) -> list[str]:
        return [ROLLOUTS, "commit", "--repo", str(self.remote), "--signing-key", str(self.ssh_key), "--key",
                self.cosign_key, "--skip-validate", *extra]

    def run(self, *extra: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.commit_args(*extra), cwd=cwd or self.source, env=self.env, capture_output=True,
                              text=True, timeout=180, check=False)

    def remote_git(self, *args: str) -> str:
        return git(f"--git-dir={self.remote}", *args, cwd=self.tmp, env=self.env)

    def fsck(self, git_dir: Path | None = None) -> None:
        """git fsck --strict is clean: exit 0, nothing but dangling objects (a rejected push leaves those)."""
        out = subprocess.run(["git", f"--git-dir={git_dir or self.remote}", "fsck", "--strict"], cwd=self.tmp,
                             env=self.env, capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stdout + out.stderr
        problems = [line for line in (out.stdout + out.stderr).splitlines()
                    if line and not line.startswith(("dangling ", "Checking", "notice"))]
        assert problems == [], problems

    def verify_commit(self, rev: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", f"--git-dir={self.remote}", "-c",
                               f"gpg.ssh.allowedSignersFile={self.allowed}", "verify-commit", rev],
                              cwd=self.tmp, env=self.env, capture_output=True, text=True, check=False)

    def clone_and_verify(self, name: str = "check") -> subprocess.CompletedProcess[str]:
        clone = self.tmp / name
        shutil.rmtree(clone, ignore_errors=True)
        git("clone", "-q", "-b", "main", str(self.remote), str(clone), cwd=self.tmp, env=self.env)
        return subprocess.run([ROLLOUTS, "verify", "--key", self.cosign_pub], cwd=clone, env=self.env,
                              capture_output=True, text=True, check=False)


@pytest.fixture
def lab(tmp_path: Path, key_pair: tuple[str, str], tool: Callable[[str], str]) -> Lab:
    tool("git")
    tool("ssh-keygen")
    return Lab(tmp_path, key_pair)


def test_commit_to_bare_remote_is_signed_and_verifiable(lab: Lab) -> None:
    out = lab.run()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Committed" in out.stdout and "attempt 1" in out.stdout
    head = lab.remote_git("rev-parse", "main")
    checked = lab.verify_commit(head)
    assert checked.returncode == 0, checked.stderr
    assert 'Good "git" signature' in checked.stderr
    message = lab.remote_git("log", "-1", "--format=%B", "main")
    assert message.startswith("rollouts: render billing-worker, checkout, frontend, payments (")
    assert "checkout (production, staging): " in message and "Source-commit: " in message
    repository = lab.remote_git("show", "main:flux/bootstrap/rollouts/repository.yaml")
    assert "verify:\n    mode: HEAD\n    secretRef:\n      name: \"rollouts-commit-signers\"" in repository
    assert "rollouts-commit-signers" in out.stderr and "git.sshpub" in out.stderr  # how to create the Secret
    verified = lab.clone_and_verify()
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # the same render again: nothing to commit
    again = lab.run()
    assert again.returncode == 0 and "Nothing to commit" in again.stdout
    assert lab.remote_git("rev-parse", "main") == head


def test_an_unsigned_head_is_signed_again_with_the_same_render(lab: Lab) -> None:
    """flux bootstrap (or anyone) pushes an unsigned commit on top: Flux verifies HEAD only and stays on the last
    verified artifact, so a commit of the unchanged render must still land, signed."""
    assert lab.run().returncode == 0
    work = lab.tmp / "bootstrap-clone"
    git("clone", "-q", str(lab.remote), str(work), cwd=lab.tmp, env=lab.env)
    (work / "flux/bootstrap/flux-system/gotk-sync.yaml").write_text("# written by flux bootstrap\n")
    git("add", "-A", cwd=work, env=lab.env)
    git("-c", "commit.gpgsign=false", "commit", "-q", "-m", "Add Flux sync manifests", cwd=work, env=lab.env)
    git("push", "-q", "origin", "main", cwd=work, env=lab.env)
    unsigned = lab.remote_git("rev-parse", "main")
    assert lab.verify_commit(unsigned).returncode != 0

    again = lab.run()
    assert again.returncode == 0, again.stdout + again.stderr
    head = lab.remote_git("rev-parse", "main")
    assert head != unsigned and lab.remote_git("rev-parse", "main^") == unsigned
    assert lab.verify_commit(head).returncode == 0
    assert lab.remote_git("diff", "--stat", unsigned, head, "--", "flux") == ""  # the same tree, now signed
    assert "which carried no signature" in lab.remote_git("log", "-1", "--format=%s", "main")
    # signed now: the next run has nothing to do
    assert "Nothing to commit" in lab.run().stdout


def test_dry_run_and_failures_commit_nothing(lab: Lab) -> None:
    assert lab.run().returncode == 0
    head = lab.remote_git("rev-parse", "main")
    lab.bump(lab.source, "checkout", "9.9.9")
    dry = lab.run("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Dry run: would commit" in dry.stdout
    assert "M flux/apps/production/checkout/release.yaml" in dry.stdout
    assert lab.remote_git("rev-parse", "main") == head
    # a wrong key password: a clear error, nothing committed
    bad = subprocess.run(lab.commit_args(), cwd=lab.source, env={**lab.env, "COSIGN_PASSWORD": "wrong"},
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "wrong password" in bad.stderr and "Traceback" not in bad.stderr
    # a spec with a lint error: findings, nothing committed
    spec = lab.source / "services/checkout/rollouts.yaml"
    spec.write_text(spec.read_text().replace("kind: ServiceRollout", "kind: ServiceRolout"))
    broken = lab.run()
    assert broken.returncode == 1
    assert "services/checkout/rollouts.yaml" in broken.stdout and "Nothing was committed" in broken.stderr
    # an unsigned commit is refused up front
    unsigned = subprocess.run([ROLLOUTS, "commit", "--repo", str(lab.remote), "--key", lab.cosign_key,
                               "--skip-validate"], cwd=lab.source, env=lab.env, capture_output=True, text=True,
                              check=False)
    assert unsigned.returncode == 1 and "--signing-key" in unsigned.stderr
    assert lab.remote_git("rev-parse", "main") == head


def test_four_concurrent_jobs_all_land(lab: Lab) -> None:
    assert lab.run().returncode == 0
    start = lab.remote_git("rev-parse", "main")
    sources = {}
    for i, service in enumerate(SERVICES):
        sources[service] = lab.make_source(f"job-{service}")
        lab.bump(sources[service], service, f"7.0.{i}")
    procs = {s: subprocess.Popen(lab.commit_args("--service", s), cwd=sources[s], env=lab.env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for s in SERVICES}
    outputs = {s: p.communicate(timeout=300) for s, p in procs.items()}
    for s, p in procs.items():
        assert p.returncode == 0, f"{s}: {outputs[s]}"
    attempts = [int(re.search(r"attempt (\d+)", out).group(1)) for out, _ in outputs.values()]  # type: ignore[union-attr]
    print("attempts per job:", attempts)
    log = lab.remote_git("log", "--format=%H %s", f"{start}..main").splitlines()
    assert len(log) == 4, log
    assert sorted(line.split(" ", 3)[3].split(" (")[0] for line in log) == sorted(SERVICES)
    for line in log:
        assert lab.verify_commit(line.split()[0]).returncode == 0
    for i, service in enumerate(SERVICES):  # no lost update: every job's change is in the final tree
        release = lab.remote_git("show", f"main:flux/apps/production/{service}/release.yaml")
        assert f"7.0.{i}" in release, service
    verified = lab.clone_and_verify()
    assert verified.returncode == 0, verified.stdout + verified.stderr
    lab.fsck()


def test_a_commit_clears_the_temporary_files_a_killed_run_left_in_the_worktree(lab: Lab) -> None:
    """Was: a run killed between writing flux/<file>.rollouts-tmp and renaming it left the file untracked for good
    (seen once in test_sigkill_leaves_repositories_consistent)."""
    assert lab.run().returncode == 0
    worktree = lab.make_source("worktree")
    args = [ROLLOUTS, "commit", "--signing-key", str(lab.ssh_key), "--key", lab.cosign_key, "--skip-validate"]
    assert subprocess.run(args, cwd=worktree, env=lab.env, capture_output=True, check=False).returncode == 0
    leftovers = [worktree / "flux" / "apps" / "staging" / "checkout" / "release.yaml.rollouts-tmp",
                 worktree / "flux.sigstore.json.rollouts-tmp"]
    for leftover in leftovers:
        leftover.write_text("half")
    for change in ("", "8.2.0"):  # nothing new to commit, then a new commit
        if change:
            lab.bump(worktree, "checkout", change)
        done = subprocess.run(args, cwd=worktree, env=lab.env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert git("status", "--porcelain", cwd=worktree, env=lab.env) == ""
        for leftover in leftovers:
            leftover.write_text("half")


def test_sigkill_leaves_repositories_consistent(lab: Lab) -> None:
    assert lab.run().returncode == 0
    worktree = lab.make_source("worktree")  # also commit in place, in a working copy
    tags = iter(range(100))
    for delay in (0.4, 0.9, 1.5):
        before = lab.remote_git("rev-parse", "main")
        tag = next(tags)
        lab.bump(lab.source, "checkout", f"8.0.{tag}")
        lab.bump(worktree, "frontend", f"8.1.{tag}")
        proc = subprocess.Popen(lab.commit_args(), cwd=lab.source, env=lab.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        local = subprocess.Popen([ROLLOUTS, "commit", "--signing-key", str(lab.ssh_key), "--key", lab.cosign_key,
                                  "--skip-validate"], cwd=worktree, env=lab.env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        time.sleep(delay)
        for p in (proc, local):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
            p.wait()
        lab.fsck()
        after = lab.remote_git("rev-parse", "main")
        if after != before:
            assert lab.remote_git("rev-parse", f"{after}^") == before
            assert lab.verify_commit(after).returncode == 0
        lab.fsck(worktree / ".git")
    # a re-run after the kills completes, and the results verify
    final = lab.run()
    assert final.returncode == 0, final.stdout + final.stderr
    assert lab.clone_and_verify().returncode == 0
    local = subprocess.run([ROLLOUTS, "commit", "--signing-key", str(lab.ssh_key), "--key", lab.cosign_key,
                            "--skip-validate"], cwd=worktree, env=lab.env, capture_output=True, text=True,
                           check=False)
    assert local.returncode == 0, local.stdout + local.stderr
    assert git("status", "--porcelain", cwd=worktree, env=lab.env) == ""
    verified = subprocess.run([ROLLOUTS, "verify", "--key", lab.cosign_pub], cwd=worktree, env=lab.env,
                              capture_output=True, text=True, check=False)
    assert verified.returncode == 0, verified.stdout


def test_worktree_mode_commits_in_place(lab: Lab) -> None:
    out = subprocess.run([ROLLOUTS, "commit", "--signing-key", str(lab.ssh_key), "--key", lab.cosign_key,
                          "--skip-validate"], cwd=lab.source, env=lab.env, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert git("log", "-1", "--format=%s", cwd=lab.source, env=lab.env).startswith("rollouts: render")
    assert git("status", "--porcelain", cwd=lab.source, env=lab.env) == ""
    assert (lab.source / "flux.sigstore.json").is_file()
    checked = subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={lab.allowed}", "verify-commit", "HEAD"],
                             cwd=lab.source, env=lab.env, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    # the next change: only that service's files change
    lab.bump(lab.source, "frontend", "4.0.0")
    second = subprocess.run([ROLLOUTS, "commit", "--signing-key", str(lab.ssh_key), "--key", lab.cosign_key,
                             "--skip-validate"], cwd=lab.source, env=lab.env, capture_output=True, text=True,
                            check=False)
    assert second.returncode == 0, second.stderr
    changed = git("show", "--name-only", "--format=", "HEAD", cwd=lab.source, env=lab.env).splitlines()
    assert "flux.sigstore.json" in changed
    # the analysis controller's config holds each spec's digest: it changes with the spec
    assert {p.split("/")[3] for p in changed if p.startswith("flux/apps/")} == {"frontend", "analysis-controller"}
    # as if a run had been killed while it updated the working tree: a stale file, a stale index entry
    canary = lab.source / "flux/apps/production/frontend/canary.yaml"
    canary.write_text("stale\n")
    git("rm", "-q", "--cached", "flux/apps/staging/frontend/canary.yaml", cwd=lab.source, env=lab.env)
    repaired = subprocess.run([ROLLOUTS, "commit", "--signing-key", str(lab.ssh_key), "--key", lab.cosign_key,
                               "--skip-validate"], cwd=lab.source, env=lab.env, capture_output=True, text=True,
                              check=False)
    assert repaired.returncode == 0, repaired.stderr
    assert "Nothing to commit" in repaired.stdout
    assert git("status", "--porcelain", cwd=lab.source, env=lab.env) == ""


def test_remote_name_of_the_source_repository(lab: Lab) -> None:
    """--repo origin: objects go through the source repository (its remotes and credentials), under a private ref
    that is removed afterwards."""
    git("remote", "add", "origin", str(lab.remote), cwd=lab.source, env=lab.env)
    out = subprocess.run([ROLLOUTS, "commit", "--repo", "origin", "--branch", "gitops", "--signing-key",
                          str(lab.ssh_key), "--key", lab.cosign_key, "--skip-validate"], cwd=lab.source, env=lab.env,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert lab.verify_commit("gitops").returncode == 0
    assert git("for-each-ref", "refs/rollouts", cwd=lab.source, env=lab.env) == ""
    assert git("status", "--porcelain", cwd=lab.source, env=lab.env) == ""  # the source checkout is untouched


def test_no_private_key_in_repository_or_output(lab: Lab) -> None:
    out = lab.run()
    assert out.returncode == 0
    objects = subprocess.run(["git", f"--git-dir={lab.remote}", "cat-file", "--batch-all-objects", "--batch"],
                             env=lab.env, capture_output=True, check=True).stdout
    ssh_private = lab.ssh_key.read_bytes()
    cosign_private = Path(lab.cosign_key).read_bytes()
    body = b"".join(line for line in ssh_private.splitlines()[1:-1])
    for blob in (objects, (out.stdout + out.stderr).encode()):
        assert b"PRIVATE KEY" not in blob
        assert body[:40] not in blob
        assert cosign_private.splitlines()[1] not in blob
        assert PASSWORD.encode() not in blob


def test_dry_run_in_a_pull_request_job_needs_no_identity(lab: Lab) -> None:
    """A PR job (GITHUB_ACTIONS without id-token permission, no key): the dry run shows the change, signs nothing."""
    env = {**lab.env, "GITHUB_ACTIONS": "true"}
    env.pop("ACTIONS_ID_TOKEN_REQUEST_TOKEN", None)
    out = subprocess.run([ROLLOUTS, "commit", "--repo", str(lab.remote), "--dry-run", "--skip-validate"],
                         cwd=lab.source, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "the bundle was not signed" in out.stderr
    assert "A flux/apps/production/checkout/canary.yaml" in out.stdout + out.stderr  # github format: stderr
    refs = subprocess.run(["git", f"--git-dir={lab.remote}", "for-each-ref"], env=lab.env, capture_output=True,
                          text=True, check=True).stdout
    assert refs == ""


def test_openpgp_signed_commit(lab: Lab, tool: Callable[[str], str]) -> None:
    gpg = tool("gpg")
    home = lab.tmp / "gnupg"
    home.mkdir(mode=0o700)
    env = {**lab.env, "GNUPGHOME": str(home)}
    subprocess.run([gpg, "--batch", "--passphrase", "", "--quick-gen-key", "rollouts bot <bot@example.com>",
                    "ed25519", "sign", "never"], env=env, check=True, capture_output=True)
    listing = subprocess.run([gpg, "--batch", "--with-colons", "--list-secret-keys"], env=env, check=True,
                             capture_output=True, text=True).stdout
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    out = subprocess.run([ROLLOUTS, "commit", "--repo", str(lab.remote), "--gpg-key", fingerprint, "--key",
                          lab.cosign_key, "--skip-validate"], cwd=lab.source, env=env, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "git.asc" in out.stderr
    checked = subprocess.run(["git", f"--git-dir={lab.remote}", "verify-commit", "main"], env=env,
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    assert "Good signature" in checked.stderr


def test_a_failing_sign_step_commits_nothing(lab: Lab) -> None:
    """Someone pushed a symlink into flux/ on the GitOps branch: signing refuses it, nothing is committed."""
    assert lab.run().returncode == 0
    clone = lab.tmp / "hand-edit"
    git("clone", "-q", "-b", "main", str(lab.remote), str(clone), cwd=lab.tmp, env=lab.env)
    os.symlink("/etc/passwd", clone / "flux" / "passwd.yaml")
    git("add", "flux/passwd.yaml", cwd=clone, env=lab.env)
    git("-c", "commit.gpgsign=false", "commit", "-q", "-m", "hand edit", cwd=clone, env=lab.env)
    git("push", "-q", "origin", "main", cwd=clone, env=lab.env)
    head = lab.remote_git("rev-parse", "main")
    lab.bump(lab.source, "checkout", "6.6.6")
    out = lab.run()
    assert out.returncode == 1
    assert "not regular files: passwd.yaml" in out.stderr and "Traceback" not in out.stderr
    assert lab.remote_git("rev-parse", "main") == head


def test_an_uncommitted_spec_edit_is_refused_naming_the_file(lab: Lab) -> None:
    """The bundle attests the source commit and hashes the specs: with an edit not committed it would attest HEAD
    while hashing the edited file (issue 13, major defect 4)."""
    assert lab.run().returncode == 0
    head = lab.remote_git("rev-parse", "main")
    spec = lab.source / "services/checkout/rollouts.yaml"
    spec.write_text(re.sub(r"(\n      tag: ).*\n", r"\g<1>7.7.7\n", spec.read_text(), count=1))
    (lab.source / "services/extra").mkdir()
    (lab.source / "services/extra/rollouts.yaml").write_text(spec.read_text().replace("name: checkout", "name: extra"))
    refused = lab.run()
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "uncommitted changes to what the render reads: services/checkout/rollouts.yaml, " \
           "services/extra/rollouts.yaml" in refused.stderr
    assert "Commit them first" in refused.stderr and "Traceback" not in refused.stderr
    assert lab.remote_git("rev-parse", "main") == head
    # a dry run shows what would be committed, and says a real commit would refuse
    dry = lab.run("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "a real commit refuses this" in dry.stderr
    # once committed, the same render goes through
    git("add", "-A", cwd=lab.source, env=lab.env)
    git("-c", "commit.gpgsign=false", "commit", "-q", "-m", "checkout 7.7.7", cwd=lab.source, env=lab.env)
    done = lab.run()
    assert done.returncode == 0, done.stderr
    source = git("rev-parse", "HEAD", cwd=lab.source, env=lab.env)
    assert f"Source-commit: {source}\n" in lab.remote_git("log", "-1", "--format=%B", "main") + "\n"


def test_allow_dirty_attests_the_working_tree_and_says_so(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    from rollouts.commit import CommitOptions, commit

    for name, value in lab.env.items():
        monkeypatch.setenv(name, value)
    spec = lab.source / "services/checkout/rollouts.yaml"
    spec.write_text(re.sub(r"(\n      tag: ).*\n", r"\g<1>7.7.8\n", spec.read_text(), count=1))
    opts = CommitOptions(root=str(lab.source), repo=str(lab.remote), key=lab.cosign_key,
                         ssh_signing_key=str(lab.ssh_key), validate=False, allow_dirty=True)
    done = commit(opts)
    assert done.ok and done.committed, done.findings
    head = git("rev-parse", "HEAD", cwd=lab.source, env=lab.env)
    message = lab.remote_git("log", "-1", "--format=%B", "main")
    assert f"Source-commit: {head} with uncommitted changes to services/checkout/rollouts.yaml" in message
    assert any("--allow-dirty" in note for note in done.notes)
    assert [s.name for s in done.stages] == ["lint", "render", "validate", "sign", "verify", "commit"]
    validate = done.stage("validate")
    assert validate is not None and not validate.ran and "--skip-validate" in validate.detail
