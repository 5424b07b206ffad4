"""`rollouts pipeline` end to end on a copy of the repository, HOME and XDG_CACHE_HOME in tmp."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROLLOUTS = str(Path(sys.executable).parent / "rollouts")
# cert-manager CRDs are not in the shared data: those kinds are named, and the summary lists them
NO_SCHEMA = ("ClusterIssuer", "Certificate", "Issuer", "Bundle")


def fresh_copy(tmp: Path) -> tuple[Path, dict[str, str]]:
    repo = tmp / "repo"
    repo.mkdir()
    shutil.copytree(ROOT / "services", repo / "services")
    if (ROOT / "rollouts.project.yaml").exists():
        shutil.copy(ROOT / "rollouts.project.yaml", repo)
    env = {k: v for k, v in os.environ.items() if k not in ("COSIGN_PASSWORD", "ROLLOUTS_SCHEMAS", "GITHUB_ACTIONS")}
    env.update(HOME=str(tmp / "home"), XDG_CACHE_HOME=str(tmp / "cache"), GIT_CONFIG_NOSYSTEM="1", NO_COLOR="1",
               GIT_AUTHOR_NAME="dev", GIT_AUTHOR_EMAIL="dev@example.com", GIT_COMMITTER_NAME="dev",
               GIT_COMMITTER_EMAIL="dev@example.com")
    (tmp / "home").mkdir()
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["-c", "commit.gpgsign=false", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return repo, env


STEPS = ["keys", "lint", "render", "validate", "sign", "commit", "verify"]


def summary(out: str) -> dict[str, tuple[str, str]]:
    """The pipeline summary: step -> (status, detail), whatever the column widths."""
    steps = {}
    for line in out.splitlines():
        words = line.split(None, 2)
        if line.startswith("  ") and len(words) >= 2 and words[0] in STEPS:
            steps[words[0]] = (words[1].lower(), words[2] if len(words) > 2 else "")
    return steps


def run(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ROLLOUTS, "pipeline", *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_pipeline_end_to_end(tmp_path: Path, catalog: Path) -> None:
    repo, env = fresh_copy(tmp_path)
    skips = [a for kind in NO_SCHEMA for a in ("--skip", kind)]
    first = run(repo, env, "--schemas", str(catalog), *skips)
    assert first.returncode == 0, first.stdout + first.stderr
    steps = summary(first.stdout)
    assert list(steps) == STEPS and {status for status, _ in steps.values()} == {"ok"}, first.stdout
    assert "kinds not schema-checked: ClusterIssuer" in first.stdout
    cache = tmp_path / "cache" / "rollouts"
    keys = cache / "dev-keys"
    for secret in ("cosign.key", "cosign.password", "commit-ssh"):
        assert stat.S_IMODE((keys / secret).stat().st_mode) == 0o600, secret
    assert "DEVELOPMENT ONLY" in (keys / "README-DEVELOPMENT-ONLY.txt").read_text()
    # nothing landed in the source repository, and no secret in the output
    status = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=repo, env=env, capture_output=True,
                            text=True, check=True).stdout
    assert status == ""
    password = (keys / "cosign.password").read_text().strip()
    output = first.stdout + first.stderr
    assert password not in output and "PRIVATE KEY" not in output
    gitops = cache / "gitops"
    assert (gitops / "flux.sigstore.json").is_file()
    signed = subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={keys / 'allowed_signers'}", "log", "-1",
                             "--format=%G? %s"], cwd=gitops, env=env, capture_output=True, text=True, check=True)
    assert signed.stdout.startswith("G rollouts: render billing-worker, checkout, frontend"), signed.stdout
    # the second run: nothing new to commit, still verified
    second = run(repo, env, "--schemas", str(catalog), *skips)
    assert second.returncode == 0, second.stdout + second.stderr
    steps = summary(second.stdout)
    assert steps["commit"][0] == "unchanged" and steps["verify"][0] == "ok"


def test_pipeline_without_a_catalog_validates_with_the_shipped_schemas(tmp_path: Path) -> None:
    """A fresh copy with no .rollouts/schemas and no ../shared: validate runs on the schemas the package ships."""
    repo, env = fresh_copy(tmp_path)
    nowhere = "http://127.0.0.1:9"  # no network: any download would fail
    env.update(ROLLOUTS_SHARED=str(tmp_path / "no-such-shared"), HTTPS_PROXY=nowhere, HTTP_PROXY=nowhere,
               https_proxy=nowhere, http_proxy=nowhere, NO_PROXY="", no_proxy="")
    out = run(repo, env)
    assert out.returncode == 0, out.stdout + out.stderr
    steps = summary(out.stdout)
    assert steps["validate"][0] == "ok" and "SKIPPED" not in out.stdout
    assert steps["verify"][0] == "ok"


def test_pipeline_stops_on_validation_errors(tmp_path: Path) -> None:
    from rollouts.catalog.build import build

    core = tmp_path / "core-only"
    build(str(core), "1.34")  # Kubernetes core kinds only: every Flux/Flagger kind is a schema-missing error
    repo, env = fresh_copy(tmp_path)
    out = run(repo, env, "--schemas", str(core))
    assert out.returncode == 1
    assert "schema-missing" in out.stdout and "nothing was committed" in out.stdout
    # the same steps as on success, in the same order: the failed one, and what did not run
    steps = summary(out.stdout)
    assert list(steps) == STEPS
    assert [steps[s][0] for s in STEPS] == ["ok", "ok", "ok", "failed", "skipped", "skipped", "skipped"]
    bare = tmp_path / "cache" / "rollouts" / "gitops.git"
    refs = subprocess.run(["git", f"--git-dir={bare}", "for-each-ref"], env=env, capture_output=True, text=True,
                          check=True).stdout
    assert refs == ""


def test_pipeline_builds_the_catalog_from_fetched_crds(tmp_path: Path, shared: Path) -> None:
    """As after `rollouts schemas fetch`: CRDs in .rollouts/crds; the pipeline builds the catalog offline."""
    repo, env = fresh_copy(tmp_path)
    shutil.copytree(shared / "crds", repo / ".rollouts" / "crds", ignore=shutil.ignore_patterns("*.md"))
    skips = [a for kind in NO_SCHEMA for a in ("--skip", kind)]
    out = run(repo, env, *skips)
    assert out.returncode == 0, out.stdout + out.stderr
    status, detail = summary(out.stdout)["validate"]
    assert status == "ok" and detail.startswith(f"kubeconform + PromQL + kustomize, catalog {repo}/.rollouts/schemas")
    assert (repo / ".rollouts/schemas").is_dir()
