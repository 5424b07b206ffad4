"""What `rollouts commit` prints (issue 13): a dry run with nothing to commit says so, not "would commit (0 files)"."""

from __future__ import annotations

from .test_commit import Lab, lab

__all__ = ["lab"]  # the fixture, shared with test_commit


def test_dry_run_with_nothing_to_commit_says_so(lab: Lab) -> None:
    assert lab.run().returncode == 0
    dry = lab.run("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Dry run: nothing to commit:" in dry.stdout
    assert "already holds this render" in dry.stdout
    assert "would commit" not in dry.stdout and "(0 files)" not in dry.stdout


def test_dry_run_with_a_change_shows_the_commit(lab: Lab) -> None:
    assert lab.run().returncode == 0
    lab.bump(lab.source, "checkout", "9.9.9")
    dry = lab.run("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Dry run: would commit" in dry.stdout
    assert "M flux/apps/production/checkout/release.yaml" in dry.stdout
