"""rollouts diff on a real git history in a test repository: a spec change, an environment override's change, a
new service and a removed one, each against the commit before it; the default base is the merge base with main."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@localhost", "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1",
           "PATH": "/usr/bin:/bin"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], env=GIT_ENV, capture_output=True, text=True,
                          check=True).stdout.strip()


def diff(repo: Path, *args: str) -> Any:
    result = subprocess.run([str(Path(sys.executable).parent / "rollouts"), "diff", "--root", str(repo), "-f",
                             "json", *args], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copytree(ROOT / "services", repo / "services")
    shutil.copy(ROOT / "rollouts.project.yaml", repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "services")
    return repo


def by_key(report: Any) -> dict[tuple[str, str], Any]:
    return {(s["service"], s["environment"]): s for s in report["services"]}


def edit(repo: Path, service: str, old: str, new: str) -> None:
    spec = repo / "services" / service / "rollouts.yaml"
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new, 1))


def test_a_spec_change_shows_in_the_spec_the_plan_and_the_objects_of_each_environment(repo: Path) -> None:
    edit(repo, "checkout", "steps: [5, 25, 50]", "steps: [10, 50]")
    report = diff(repo)  # the working tree against the merge base with main: HEAD
    assert report["base"] == git(repo, "rev-parse", "HEAD")
    assert sorted(by_key(report)) == [("checkout", "production"), ("checkout", "staging")]
    prod = by_key(report)[("checkout", "production")]
    assert prod["status"] == "changed"
    assert {"path": "spec.strategy.steps", "before": [5, 25, 50], "after": [10, 50]} in prod["spec"]
    plan = {c["path"]: (c["before"], c["after"]) for c in prod["plan"]}
    assert plan["time to promotion"] == (6 * 60, 5 * 60)  # (3 + 3) -> (2 + 3) ticks of 1m
    assert plan["exposure"] == (5 + 25 + 50 + 50, 10 + 50 + 50) and "peak canary weight" not in plan  # unchanged
    assert {"path": "Canary/shop/checkout: spec.analysis.stepWeights", "before": [5, 25, 50],
            "after": [10, 50]} in prod["objects"]


def test_an_override_change_touches_only_its_environment(repo: Path) -> None:
    edit(repo, "frontend", "strategy: {iterations: 3, interval: 30s}", "strategy: {iterations: 5, interval: 30s}")
    git(repo, "commit", "-q", "-am", "more iterations in staging")
    report = diff(repo, "HEAD~1")
    assert list(by_key(report)) == [("frontend", "staging")]
    staging = by_key(report)[("frontend", "staging")]
    assert {"path": "spec.strategy.iterations", "before": 3, "after": 5} in staging["spec"]
    assert {c["path"]: (c["before"], c["after"]) for c in staging["plan"]}["time to promotion"] == (6 * 30, 8 * 30)


def test_a_new_and_a_removed_service_are_listed_whole(repo: Path) -> None:
    shutil.copytree(repo / "services" / "checkout", repo / "services" / "payments")
    edit(repo, "payments", "name: checkout", "name: payments")
    shutil.rmtree(repo / "services" / "billing-worker")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "payments in, billing-worker out")
    git(repo, "checkout", "-q", "-b", "feature")
    report = by_key(diff(repo, "HEAD~1"))
    assert {k: v["status"] for k, v in report.items()} == {
        ("billing-worker", "production"): "removed", ("billing-worker", "staging"): "removed",
        ("payments", "production"): "added", ("payments", "staging"): "added"}
    added = report[("payments", "production")]
    assert {"path": "Canary/shop/payments", "before": None, "after": "added"} in added["objects"]


def test_text_and_markdown_and_a_bad_base(repo: Path) -> None:
    edit(repo, "checkout", "threshold: 2", "threshold: 1")
    rollouts = str(Path(sys.executable).parent / "rollouts")
    text = subprocess.run([rollouts, "diff", "--root", str(repo)], capture_output=True, text=True, check=False)
    assert text.returncode == 0, text.stderr
    assert "checkout in production: changed\n  spec:\n    spec.strategy.threshold: 2 -> 1\n" in text.stdout
    assert "    time to rollback after the first failed check: 2m -> 1m\n" in text.stdout
    md = subprocess.run([rollouts, "diff", "--root", str(repo), "-f", "markdown"], capture_output=True, text=True,
                        check=False)
    assert "### checkout in production: changed" in md.stdout
    assert "| time to rollback after the first failed check | 2m | 1m |" in md.stdout
    bad = subprocess.run([rollouts, "diff", "no-such-ref", "--root", str(repo)], capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 1 and "no-such-ref: not a commit of" in bad.stderr and "Traceback" not in bad.stderr


def test_a_dashboard_change_is_shown_by_its_start_and_digest_not_whole(repo: Path) -> None:
    edit(repo, "checkout", "objective: 99.9", "objective: 99.5")  # the dashboard's error budget
    result = subprocess.run([str(Path(sys.executable).parent / "rollouts"), "diff", "--root", str(repo)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines()
              if line.startswith("    ConfigMap/shop/checkout-dashboard: data.rollouts-production-checkout.json")]
    before, after = line.split(": ", 2)[2].split(" -> ")
    for side in (before, after):
        assert side.startswith('{"annotations":{}') and " characters, sha256 " in side and len(side) < 160
    assert before != after
    report = diff(repo)  # the JSON report keeps the whole value
    change = next(c for c in by_key(report)[("checkout", "production")]["objects"]
                  if c["path"].startswith("ConfigMap/shop/checkout-dashboard"))
    assert json.loads(change["after"])["title"] == "rollouts: checkout in production"
