"""The GitHub Actions render-and-sign workflow parses, asks for OIDC, and calls real rollouts commands with flags
the CLI accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from rollouts.cli import parse
from ruamel.yaml import YAML

WORKFLOW = Path(__file__).resolve().parents[2] / ".github/workflows/render-and-sign.yaml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data = YAML(typ="safe").load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def rollouts_calls(job: dict[str, Any]) -> list[list[str]]:
    calls = []
    for step in job["steps"]:
        script = step.get("run", "")
        script = re.sub(r"\\\n\s*", " ", script)  # shell line continuations
        for line in script.splitlines():
            line = line.strip()
            if ".venv/bin/rollouts" in line:
                words = shlex.split(line)
                call = words[words.index(".venv/bin/rollouts") + 1:]
                ends = [i for i, w in enumerate(call) if w in (">", ">>", "|", "&&", ";")]  # the shell's, not ours
                calls.append(call[:ends[0]] if ends else call)
    return calls


def test_triggers_and_permissions(workflow: dict[str, Any]) -> None:
    assert set(workflow["on"]) == {"pull_request", "push", "workflow_dispatch"}
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {"contents": "read"}
    job = workflow["jobs"]["render-and-sign"]
    assert job["permissions"] == {"id-token": "write", "contents": "write"}
    assert "id-token" not in workflow["jobs"]["check"].get("permissions", {})


def test_jobs_call_real_commands_with_accepted_flags(workflow: dict[str, Any]) -> None:
    seen = []
    for job in workflow["jobs"].values():
        for call in rollouts_calls(job):
            ctx = parse([re.sub(r"\$\{?\w+\}?|\$\{\w+:-\w+\}", "value", a) for a in call])
            assert ctx.command.callback is not None, call
            seen.append(call[0] if call[0] != "schemas" else f"schemas {call[1]}")
    assert seen == ["schemas fetch", "check", "diff", "commit", "schemas fetch", "commit", "verify"]


def test_main_job_signs_keyless_and_verifies_the_workflow_identity(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["render-and-sign"]
    calls = rollouts_calls(job)
    commit = next(c for c in calls if c[0] == "commit")
    assert "--key" not in commit  # keyless: the job's OIDC identity
    assert "--signing-key" in commit and "--dry-run" not in commit
    verify = next(c for c in calls if c[0] == "verify")
    assert verify[verify.index("--certificate-oidc-issuer") + 1] == "https://token.actions.githubusercontent.com"
    assert verify[verify.index("--certificate-identity") + 1] == "$SIGNER"
    assert job["env"]["SIGNER"] == "${{ github.server_url }}/${{ github.workflow_ref }}"
    pr = rollouts_calls(workflow["jobs"]["check"])
    assert [a for a in next(c for c in pr if c[0] == "commit") if a == "--dry-run"] == ["--dry-run"]
    text = WORKFLOW.read_text()
    assert "PRIVATE KEY" not in text and "secrets.GITOPS_COMMIT_SSH_KEY" in text
