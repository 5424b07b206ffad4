"""A new user's first steps: an empty directory, typos in rollouts.project.yaml, no render.repository, a spec saved
as rollouts.yml. Each story: the files in, the exact finding out."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

Run = Callable[..., subprocess.CompletedProcess[str]]

PROJECT = "environments: [staging, production]\nrender:\n  repository: https://git.example/ops.git\n"


def _service(root: Path, tmp_path: Path, name: str = "rollouts.yaml") -> Path:
    folder = tmp_path / "services" / "checkout"
    folder.mkdir(parents=True)
    shutil.copy(root / "services" / "checkout" / "rollouts.yaml", folder / name)
    return folder / name


def _findings(done: subprocess.CompletedProcess[str]) -> list[tuple[str, str, str, int, int, str]]:
    return [(f["rule"], f["severity"], f["file"], f["line"], f["column"], f["message"])
            for f in json.loads(done.stdout)]


def test_render_and_lint_in_an_empty_directory_say_what_is_missing(tmp_path: Path, run_cli: Run) -> None:
    message = (f"no rollouts.project.yaml and no services/*/rollouts.yaml under {tmp_path}: this is not a rollouts "
               "repository, so there is nothing to lint or render")
    expected = [("project-config", "error", "rollouts.project.yaml", 0, 0, message)]
    for command in ("render", "lint"):
        done = run_cli(command, "--format", "json", cwd=tmp_path)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert _findings(done) == expected, command
    assert not (tmp_path / "flux").exists()  # no stray infrastructure tree
    done = run_cli("lint", cwd=tmp_path)
    assert "Run rollouts in your GitOps repository (or pass --root DIR)" in done.stdout + done.stderr


def test_a_project_file_alone_is_a_repository_and_renders_its_infrastructure(tmp_path: Path) -> None:
    from rollouts.project import discover, load_project

    (tmp_path / "rollouts.project.yaml").write_text(PROJECT)
    assert discover(load_project(str(tmp_path))) == ([], [])


def test_typos_in_the_project_file_are_unknown_keys_with_did_you_mean(tmp_path: Path, run_cli: Run) -> None:
    (tmp_path / "rollouts.project.yaml").write_text(
        "environment: [dev]\nrender:\n  repositry: https://git.example/ops.git\n  repository: https://g.example/o.git\n"
        "validate:\n  skp: [Issuer]\n")
    done = run_cli("lint", "--root", str(tmp_path), "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    found = [(f["rule"], f["line"], f["column"], f["message"], f["hint"]) for f in json.loads(done.stdout)]
    assert found == [
        ("project-config", 1, 1, "environment: unknown key 'environment'", "Did you mean 'environments'?"),
        ("project-config", 3, 3, "render.repositry: unknown key 'repositry'", "Did you mean 'repository'?"),
        ("project-config", 6, 3, "validate.skp: unknown key 'skp'", "Did you mean 'skip'?"),
    ]


def test_an_unknown_key_with_nothing_close_lists_the_known_ones(tmp_path: Path) -> None:
    from rollouts.project import load_project

    (tmp_path / "rollouts.project.yaml").write_text("render:\n  repository: https://g.example/o.git\n  zzz: 1\n")
    [finding] = load_project(str(tmp_path)).findings
    assert (finding.line, finding.column, finding.hint) == (
        3, 3, "Known keys here: repository, secretRef, branch, develop, verifySecret.")


def test_values_the_hand_checks_miss_are_schema_findings_at_their_line(tmp_path: Path) -> None:
    from rollouts.project import load_project

    (tmp_path / "rollouts.project.yaml").write_text(
        "environments: [staging, staging]\nrender:\n  repository: https://g.example/o.git\n  develop: 'yes'\n")
    found = [(f.rule, f.line, f.column, f.message) for f in load_project(str(tmp_path)).findings]
    assert found == [
        ("project-config", 1, 25, 'environments[1]: "staging" is listed twice'),
        ("project-config", 4, 12, 'render.develop: expected boolean, got string "yes"'),
    ]


def test_render_without_a_repository_is_an_error_at_the_render_line(root: Path, tmp_path: Path,
                                                                     run_cli: Run) -> None:
    _service(root, tmp_path)
    project = tmp_path / "rollouts.project.yaml"
    project.write_text("environments: [staging, production]\nrender:\n  branch: main\n")
    done = run_cli("render", "--format", "json", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    message = ("render.repository is not set: the GitRepository Flux pulls would get the placeholder URL "
               "ssh://git@github.com/example/gitops.git")
    assert _findings(done) == [("project-config", "error", "rollouts.project.yaml", 2, 1, message)]
    assert not (tmp_path / "flux").exists()
    project.write_text("environments: [staging, production]\n")
    done = run_cli("render", "--format", "json", cwd=tmp_path)
    assert _findings(done) == [("project-config", "error", "rollouts.project.yaml", 1, 1, message)]
    assert run_cli("lint", cwd=tmp_path).returncode == 0  # lint renders nothing: no repository needed
    project.write_text(PROJECT)
    done = run_cli("render", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'url: "https://git.example/ops.git"' in (tmp_path / "flux/bootstrap/rollouts/repository.yaml").read_text()


def test_render_without_a_project_file_warns_of_the_placeholder_repository(root: Path, tmp_path: Path,
                                                                           run_cli: Run) -> None:
    # a scratch project still renders (exit 0), but never silently points Flux at the placeholder
    _service(root, tmp_path)
    done = run_cli("render", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    message = ("no rollouts.project.yaml: the GitRepository Flux pulls gets the placeholder URL "
               "ssh://git@github.com/example/gitops.git")
    assert _findings(done) == [("project-config", "warning", "rollouts.project.yaml", 1, 1, message)]
    assert run_cli("render", "--strict", cwd=tmp_path).returncode == 2
    (tmp_path / "rollouts.project.yaml").write_text(PROJECT)
    assert _findings(run_cli("render", "--format", "json", cwd=tmp_path)) == []


def test_a_spec_named_rollouts_yml_is_reported_by_lint_render_and_check(root: Path, tmp_path: Path,
                                                                       run_cli: Run) -> None:
    (tmp_path / "rollouts.project.yaml").write_text(PROJECT)
    _service(root, tmp_path, "rollouts.yml")
    expected = [("project-config", "error", "services/checkout/rollouts.yml", 0, 0,
                 "this spec is named rollouts.yml, so lint, render and render --check ignore it")]
    for args in (("lint",), ("render",)):
        done = run_cli(*args, "--format", "json", cwd=tmp_path)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert _findings(done) == expected, args
        assert json.loads(done.stdout)[0]["hint"] == "Rename it to services/checkout/rollouts.yaml."
    (tmp_path / "services/checkout/rollouts.yml").rename(tmp_path / "services/checkout/rollouts.yaml")
    assert run_cli("render", cwd=tmp_path).returncode == 0
    shutil.copy(tmp_path / "services/checkout/rollouts.yaml", tmp_path / "services/checkout/rollouts.yml")
    done = run_cli("render", "--check", "--format", "json", cwd=tmp_path)
    assert done.returncode == 1
    assert _findings(done) == [("project-config", "error", "services/checkout/rollouts.yml", 0, 0,
                                "this spec is named rollouts.yml beside rollouts.yaml, so lint, render and render "
                                "--check ignore it")]
