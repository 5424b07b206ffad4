"""Defects a new user hit with the command line: exit codes, -v placement, render --check without flux/,
and a silent clean validate."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def project(tmp_path: Path, root: Path) -> Path:
    """A scratch project: the repository's services/ and rollouts.project.yaml."""
    shutil.copytree(root / "services", tmp_path / "services")
    shutil.copy(root / "rollouts.project.yaml", tmp_path / "rollouts.project.yaml")
    return tmp_path


def test_usage_error_exits_64_not_the_strict_warnings_code(run_cli: Run) -> None:
    result = run_cli("lint", "--no-such-option")
    assert result.returncode == 64
    assert "No such option" in result.stderr and "--no-such-option" in result.stderr


def test_no_command_exits_64(run_cli: Run) -> None:
    assert run_cli().returncode == 64


def test_help_documents_every_exit_code(run_cli: Run) -> None:
    out = run_cli("--help").stdout
    for code in ("0 ", "1 ", "2 ", "3 ", "64 ", "130 "):
        assert f"\n  {code}" in out
    assert "warnings but no errors, under --strict" in out


def test_verbose_after_the_subcommand_is_accepted(run_cli: Run, project: Path) -> None:
    after = run_cli("lint", "-v", cwd=project)
    before = run_cli("-v", "lint", cwd=project)
    assert "No such option" not in after.stderr
    assert after.returncode == before.returncode
    assert after.returncode != 64


def test_render_check_without_flux_is_one_finding(run_cli: Run, project: Path) -> None:
    result = run_cli("render", "--check", cwd=project)
    assert result.returncode == 1
    assert "flux/ does not exist" in result.stdout
    assert "run `rollouts render`" in result.stdout
    assert len(result.stdout.splitlines()) <= 3


def test_validate_clean_run_prints_a_summary(run_cli: Run, project: Path) -> None:
    assert run_cli("render", cwd=project).returncode == 0
    result = run_cli("validate", "--engine", "python", "--no-kustomize", "--no-promql", cwd=project)
    assert result.returncode == 0, result.stdout[-500:]
    assert result.stdout == ""
    assert "files under flux: no problems" in result.stderr
    assert result.stderr.startswith("validated ")


@pytest.mark.parametrize("rule", ["render-drift", "promql-syntax", "schema-missing", "tree-mismatch",
                                  "kustomize-build", "bundle-missing"])
def test_explain_accepts_ids_the_tool_emits(run_cli: Run, rule: str) -> None:
    result = run_cli("lint", "--explain", rule)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(rule)


def test_every_emitted_id_is_explained(root: Path) -> None:
    import re

    from rollouts.lint.explain import explain_rule

    pattern = re.compile(r'(?:error|warning|Finding)\(\s*"([a-z][a-z0-9-]+)"')
    ids = {m for p in (root / "generator").rglob("*.py") for m in pattern.findall(p.read_text(encoding="utf-8"))}
    unexplained = sorted(i for i in ids if not explain_rule(i)[1])
    assert unexplained == []


def test_explain_unknown_id_suggests_the_closest(run_cli: Run) -> None:
    result = run_cli("lint", "--explain", "promql-sintax")
    assert result.returncode == 1
    assert result.stderr == "error: unknown rule id promql-sintax; did you mean promql-syntax?\n"


def test_sarif_short_description_is_the_summary_for_every_id() -> None:
    from rollouts.findings import error
    from rollouts.lint.explain import known_ids
    from rollouts.report import format_findings

    findings = [error(rule, "services/a/rollouts.yaml", 3, 5, "something is wrong", hint="do this instead")
                for rule in known_ids()]
    sarif = json.loads(format_findings(findings, "sarif"))
    run = sarif["runs"][0]
    descriptions = {r["id"]: r["shortDescription"]["text"] for r in run["tool"]["driver"]["rules"]}
    assert set(descriptions) == set(known_ids())
    assert [rule for rule, text in descriptions.items() if text == rule] == []
    for result in run["results"]:
        assert result["message"]["text"] == "something is wrong"
        assert result["properties"]["hint"] == "do this instead"


def _drift(run_cli: Run, project: Path, fmt: str) -> str:
    assert run_cli("render", cwd=project).returncode == 0
    victim = next((project / "flux").rglob("canary.yaml"), None) or next((project / "flux").rglob("*.yaml"))
    victim.write_text(victim.read_text(encoding="utf-8") + "# hand edit\n", encoding="utf-8")
    result = run_cli("render", "--check", "-f", fmt, cwd=project)
    assert result.returncode == 1
    return result.stdout


@pytest.mark.parametrize("fmt", ["json", "sarif", "github"])
def test_render_check_keeps_the_diff_in_every_format(run_cli: Run, project: Path, fmt: str) -> None:
    out = _drift(run_cli, project, fmt)
    if fmt == "json":
        messages = [f["message"] for f in json.loads(out) if f["rule"] == "render-drift"]
    elif fmt == "sarif":
        messages = [r["message"]["text"] for r in json.loads(out)["runs"][0]["results"]]
    else:
        messages = [line.replace("%0A", "\n") for line in out.splitlines()]
    assert len(messages) == 1
    assert "\n-# hand edit" in messages[0]
    assert "\n--- a/flux/" in messages[0]
