"""The click command line: the documented exit codes (not click's), -v anywhere, one command module imported per
run, click's shell completion against the installed `rollouts`, `rollouts schema` for editors, and the CLI defects
of issue 13 (validate's progress on a terminal, the pipeline summary's columns, validate's origins)."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from rollouts import cli

Run = Callable[..., subprocess.CompletedProcess[str]]
ROLLOUTS = str(Path(sys.executable).parent / "rollouts")


@pytest.fixture
def project(tmp_path: Path, root: Path) -> Path:
    shutil.copytree(root / "services", tmp_path / "services")
    shutil.copy(root / "rollouts.project.yaml", tmp_path / "rollouts.project.yaml")
    return tmp_path


# --- exit codes -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    pytest.param(["lint", "-f", "xml"], id="bad-choice"),
    pytest.param(["commit", "--attempts", "many"], id="bad-int"),
    pytest.param(["schemas"], id="missing-action"),
    pytest.param(["keys", "make"], id="unknown-action"),
    pytest.param(["no-such-command"], id="unknown-command"),
    pytest.param(["schema", "both"], id="bad-argument"),
    pytest.param(["commit", "--signing-key", "k", "--gpg-key", "g"], id="exclusive-options"),
])
def test_usage_errors_exit_64(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(argv) == cli.EX_USAGE
    err = capsys.readouterr().err
    assert err.startswith("Usage: rollouts") and "Traceback" not in err


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["lint", "--help"]) == 0
    assert "--explain RULE" in capsys.readouterr().out
    assert cli.run(["--version"]) == 0
    assert capsys.readouterr().out.startswith("rollouts ")


def _boom(*args: object, **kwargs: object) -> None:
    raise ValueError("a bug")


def test_internal_error_exits_3_and_verbose_after_the_command_shows_the_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("rollouts.lint.lint", _boom)
    assert cli.run(["lint"]) == 3
    assert "internal error: ValueError: a bug (run with --verbose" in capsys.readouterr().err
    for argv in (["lint", "-v"], ["-v", "lint"], ["lint", "--verbose"]):
        with pytest.raises(ValueError, match="a bug"):
            cli.run(argv)


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("rollouts.lint.lint", interrupted)
    assert cli.run(["lint"]) == 130
    assert capsys.readouterr().err.endswith("interrupted\n")


def test_the_exit_code_of_the_command_is_the_process_exit_code(run_cli: Run, project: Path) -> None:
    spec = project / "services/checkout/rollouts.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("kind: ServiceRollout", "kind: ServiceRolout"))
    assert run_cli("lint", cwd=project).returncode == 1
    assert run_cli("lint", "services/frontend/rollouts.yaml", cwd=project).returncode == 0


# --- one module per run ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "imported"), [
    pytest.param(["--help"], [], id="help"),
    pytest.param(["lint", "--help"], ["rollouts.commands.lint"], id="lint"),
    pytest.param(["schemas", "build", "--help"], ["rollouts.commands.schemas"], id="schemas-build"),
])
def test_only_the_module_of_the_command_being_run_is_imported(argv: list[str], imported: list[str]) -> None:
    code = ("import sys; from rollouts.cli import run; run(sys.argv[1:]); "
            "print(sorted(m for m in sys.modules if m.startswith('rollouts.commands.')), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
    assert done.stderr.strip().splitlines()[-1] == repr(imported)


def test_every_listed_command_has_its_module() -> None:
    import click

    ctx = click.Context(cli.rollouts)
    for name, summary in cli.COMMANDS.items():
        command = cli.rollouts.get_command(ctx, name)
        assert command is not None and command.name == name
        assert command.help is not None and command.help.startswith(summary)


def test_options_that_take_several_values_still_do() -> None:
    ctx = cli.parse(["schemas", "build", "--crds", "a", "b", "--catalog", "c", "--out", "o", "--crds=d", "e"])
    assert ctx.params["crds"] == ("a", "b", "d", "e")
    assert ctx.params["catalog"] == ("c",)
    assert ctx.params["out"] == "o"


@pytest.mark.parametrize("argv", [["-v"], ["schemas", "-v"], ["-v", "schemas", "-v"]])
def test_parse_says_a_command_is_missing_after_a_group_s_flags(argv: list[str]) -> None:
    with pytest.raises(click.UsageError, match="missing command"):
        cli.parse(argv)


def test_parse_finds_the_command_after_flags_anywhere() -> None:
    ctx = cli.parse(["-v", "schemas", "-v", "build", "-v", "--out", "o"])
    assert (ctx.command.name, ctx.params["out"]) == ("build", "o")


@pytest.mark.parametrize(("argv", "expected"), [
    pytest.param(["validate"], {"promql": True, "kustomize": True, "cache": True, "engine": "auto"}, id="defaults"),
    pytest.param(["validate", "--no-promql", "--no-kustomize", "--no-cache"],
                 {"promql": False, "kustomize": False, "cache": False}, id="switches-off"),
    pytest.param(["check", "--skip", "A", "--skip", "B,C"], {"skip": ("A", "B,C"), "fmt": "text"}, id="repeatable"),
    pytest.param(["commit", "--attempts", "3", "--dry-run"], {"attempts": 3, "dry_run": True, "service": ()},
                 id="typed"),
    pytest.param(["keys", "generate", "--output-key-prefix", "k"], {"output_prefix": "k"}, id="cosign-spelling"),
])
def test_option_names_and_defaults_are_kept(argv: list[str], expected: dict[str, object]) -> None:
    params = cli.parse(argv).params
    assert {k: params[k] for k in expected} == expected


# --- shell completion -----------------------------------------------------------------------------------------

def _complete(words: str, cword: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "_ROLLOUTS_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    return subprocess.run([ROLLOUTS], env=env, capture_output=True, text=True, check=False, timeout=60)


def test_completion_lists_the_commands() -> None:
    done = _complete("rollouts ", 1)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"plain,{name}" for name in cli.COMMANDS]
    assert _complete("rollouts sch", 1).stdout.splitlines() == ["plain,schemas", "plain,schema"]


def test_completion_of_a_command_and_its_options() -> None:
    assert "plain,--explain" in _complete("rollouts lint --ex", 2).stdout.splitlines()
    assert _complete("rollouts schemas ", 2).stdout.splitlines() == ["plain,build", "plain,fetch"]
    assert _complete("rollouts lint -f ", 3).stdout.splitlines() == [f"plain,{f}" for f in cli.FORMATS]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str) -> None:
    env = {**os.environ, "_ROLLOUTS_COMPLETE": f"{shell}_source"}
    done = subprocess.run([ROLLOUTS], env=env, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "_ROLLOUTS_COMPLETE" in done.stdout


# --- rollouts schema ------------------------------------------------------------------------------------------

def test_schema_to_stdout_is_the_spec_schema(run_cli: Run, root: Path) -> None:
    done = run_cli("schema")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (root / "generator/spec/rollouts.schema.json").read_text(encoding="utf-8")
    assert json.loads(done.stdout)["title"].startswith("ServiceRollout")


@pytest.mark.parametrize(("which", "source", "document"), [
    pytest.param("spec", "generator/spec/rollouts.schema.json", "services/shop/rollouts.yaml", id="spec"),
    pytest.param("project", "generator/project.schema.json", "rollouts.project.yaml", id="project"),
])
def test_schema_export_gives_a_modeline_that_resolves_outside_the_repository(
        run_cli: Run, root: Path, tmp_path: Path, which: str, source: str, document: str) -> None:
    (tmp_path / "schemas").mkdir()
    done = run_cli("schema", which, "-o", "schemas/rollouts.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    exported = tmp_path / "schemas/rollouts.json"
    assert exported.read_bytes() == (root / source).read_bytes()
    modeline = done.stderr.splitlines()[-1]
    assert modeline.startswith("# yaml-language-server: $schema=")
    # yaml-language-server resolves a relative $schema from the directory of the document that carries it
    target = modeline.split("$schema=", 1)[1]
    assert ((tmp_path / document).parent / target).resolve() == exported.resolve()


def test_schema_export_to_an_unwritable_place_is_a_user_error(run_cli: Run, tmp_path: Path) -> None:
    done = run_cli("schema", "-o", str(tmp_path / "missing" / "x.json"))
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot write ") and "Traceback" not in done.stderr


# --- defects (issue 13, section 2) ----------------------------------------------------------------------------

def _stderr_on_a_terminal(argv: list[str], cwd: Path) -> str:
    """Run rollouts with stderr on a pseudo-terminal (stdout a pipe); return what the terminal showed."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    proc = subprocess.Popen([ROLLOUTS, *argv], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=follower,
                            stdin=subprocess.DEVNULL)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.communicate(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode()


def test_validate_shows_its_stage_on_a_terminal_only(run_cli: Run, project: Path) -> None:
    assert run_cli("render", cwd=project).returncode == 0
    argv = ["validate", "--engine", "python", "--no-kustomize", "--no-promql"]
    shown = _stderr_on_a_terminal(argv, project)
    assert "validating: schemas..." in shown
    assert "files under flux: no problems" in shown
    piped = run_cli(*argv, cwd=project)
    assert piped.returncode == 0, piped.stdout
    assert "validating" not in piped.stderr and "\r" not in piped.stderr


def test_pipeline_summary_aligns_the_status_column(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from rollouts.pipeline import PipelineResult, Step

    steps = [Step("keys", "ok", "development-only keys"),
             Step("check (lint, render, validate)", "failed", "1 error"),
             Step("verify", "unchanged", "")]
    monkeypatch.setattr("rollouts.pipeline.pipeline", lambda *a, **k: PipelineResult(steps=steps))
    with pytest.raises(SystemExit) as done:
        cli.main(["pipeline"])
    assert done.value.code == 1
    lines = capsys.readouterr().out.splitlines()[1:4]
    columns = {line.index(status) for line, status in zip(lines, ("ok", "FAILED", "unchanged"), strict=True)}
    assert len(columns) == 1, lines
    assert lines[0].index("development-only") == lines[1].index("1 error")


def test_validate_origins_let_real_bugs_surface(monkeypatch: pytest.MonkeyPatch, project: Path) -> None:
    from rollouts.errors import RolloutsError
    from rollouts.project import load_project
    from rollouts.stages import rendered_origins as _origins

    loaded = load_project(str(project))

    def unrenderable(*args: object, **kwargs: object) -> None:
        raise RolloutsError("the project does not render")

    monkeypatch.setattr("rollouts.stages.render", unrenderable)
    assert _origins(loaded) == {}
    monkeypatch.setattr("rollouts.stages.render", _boom)
    with pytest.raises(ValueError, match="a bug"):
        _origins(loaded)
