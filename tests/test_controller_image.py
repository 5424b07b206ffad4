"""The analysis controller's image build context: the same sources give the same bytes, the Dockerfile builds on
the project's base image as a non-root user, the requirements are the installed versions, and the wheel installs
offline into a fresh virtual environment and runs from there."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner
from rollouts.commands.controller_context import build_context_command
from rollouts.controller_image import DEFAULT_BASE_IMAGE, build_context
from rollouts.errors import RolloutsError
from rollouts.project import load_project

BASE = "docker.io/library/python@sha256:" + "b" * 64


def project(tmp_path: Path, base: str | None = BASE):
    root = tmp_path / "project"
    root.mkdir(exist_ok=True)
    controller = f"controller: {{baseImage: '{base}'}}\n" if base else ""
    (root / "rollouts.project.yaml").write_text("render: {repository: 'https://git.example/ops.git'}\n" + controller)
    return load_project(str(root))


def contents(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("context")
    files = build_context(str(out), project(tmp_path_factory.mktemp("p")))
    assert files == ["Dockerfile", "requirements.txt", "wheels/rollouts-0.1.0-py3-none-any.whl"]
    return out


def test_the_same_sources_give_the_same_bytes(context: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    build_context(str(again), project(tmp_path))
    assert contents(again) == contents(context)


def test_the_dockerfile_builds_on_the_base_image_offline_as_a_non_root_user(context: Path) -> None:
    text = (context / "Dockerfile").read_text()
    assert f'ARG BASE_IMAGE="{BASE}"' in text and 'ARG ROLLOUTS_WHEEL="rollouts-0.1.0-py3-none-any.whl"' in text
    assert [line for line in text.splitlines() if line.startswith("FROM ")] == [
        "FROM ${BASE_IMAGE} AS build", "FROM ${BASE_IMAGE}"]  # multi-stage: pip and the wheels stay in the build
    assert "--no-index --find-links /build/wheels" in text and "-r /build/requirements.txt" in text
    assert "USER 65532:65532" in text and "PYTHONDONTWRITEBYTECODE=1" in text
    # the pod's args (controller serve ...) replace CMD and keep ENTRYPOINT
    assert 'ENTRYPOINT ["/opt/rollouts/bin/rollouts"]' in text and text.rstrip().endswith('CMD ["controller", "serve"]')
    assert '"/build/wheels/${ROLLOUTS_WHEEL}"' in text


def test_without_a_base_image_the_local_one_is_used(tmp_path: Path) -> None:
    build_context(str(tmp_path / "ctx"), project(tmp_path, base=None))
    assert f'ARG BASE_IMAGE="{DEFAULT_BASE_IMAGE}"' in (tmp_path / "ctx" / "Dockerfile").read_text()


def test_a_base_image_that_could_break_the_dockerfile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RolloutsError, match="is not an image reference"):
        build_context(str(tmp_path / "ctx"), project(tmp_path, base="python:3.11\\nRUN curl evil"))


def test_requirements_pin_the_installed_versions_of_the_controller_extra(context: Path) -> None:
    lines = (context / "requirements.txt").read_text().splitlines()
    assert all(line.count("==") == 1 for line in lines)
    assert [line.split("==")[0] for line in lines] == sorted(line.split("==")[0] for line in lines)
    pins = dict(line.split("==") for line in lines)
    for name in ("starlette", "uvicorn", "httpx", "prometheus-client", "click", "jinja2", "anyio"):
        assert pins[name] == version(name), name
    assert "rollouts" not in pins and "pytest" not in pins  # not itself, not the test extra


def test_the_wheel_installs_offline_into_a_fresh_venv_and_runs(context: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-index", "--no-deps", "--find-links",
                    str(context / "wheels"), "rollouts"], check=True, capture_output=True, timeout=120)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    assert (site / "rollouts" / "render" / "templates" / "controller" / "Dockerfile.j2").is_file()
    assert (site / "rollouts" / "controller" / "decision.py").is_file()
    check = subprocess.run([str(python), "-m", "pip", "show", "-f", "rollouts"], capture_output=True, text=True)
    assert "Requires: click" in check.stdout
    # the dependencies from this environment (a path entry after the venv's own site-packages), rollouts from the
    # wheel: the installed console script runs, and the controller (with its extra) imports
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run([str(python), "-c", "import rollouts; print(rollouts.__file__)"], check=True,
                           capture_output=True, text=True, env=env, cwd=tmp_path).stdout.strip()
    assert where.startswith(str(site)), where
    run = subprocess.run([str(venv / "bin" / "rollouts"), "--help"], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "render" in run.stdout
    code = "import starlette, uvicorn, rollouts.controller.decision as d; print(d.__file__)"
    app = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert app.returncode == 0 and app.stdout.startswith(str(site)), app.stderr


def test_the_command_writes_the_context_and_names_its_files(tmp_path: Path) -> None:
    unpinned = project(tmp_path, base="docker.io/library/python:3.11")
    result = CliRunner().invoke(build_context_command, [str(tmp_path / "ctx"), "--root", unpinned.root],
                                standalone_mode=False)
    assert result.exception is None, result.output
    assert result.return_value == 0
    assert "controller.baseImage 'docker.io/library/python:3.11' is not pinned by digest" in result.output
    assert f"{tmp_path / 'ctx' / 'Dockerfile'}\n" in result.output
