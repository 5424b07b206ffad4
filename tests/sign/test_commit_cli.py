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


def test_allow_dirty_flag_commits_and_the_bundle_names_the_edited_spec(lab: Lab) -> None:
    import base64
    import json
    import re

    spec = lab.source / "services/checkout/rollouts.yaml"
    spec.write_text(re.sub(r"(\n      tag: ).*\n", r"\g<1>7.7.9\n", spec.read_text(), count=1))
    refused = lab.run()
    assert refused.returncode == 1 and "--allow-dirty" in refused.stderr
    done = lab.run("--allow-dirty")
    assert done.returncode == 0, done.stderr
    bundle = json.loads(lab.remote_git("show", "main:flux.sigstore.json"))
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["predicate"]["source"]["uncommitted"] == ["services/checkout/rollouts.yaml"]
