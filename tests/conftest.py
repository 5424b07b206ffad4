"""Shared fixtures: the project root, the shared test data, and external tools that skip locally but fail in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def _required() -> bool:
    return os.environ.get("ROLLOUTS_REQUIRE_TOOLS") == "1" or os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared beside the project, or $ROLLOUTS_SHARED."""
    path = Path(os.environ.get("ROLLOUTS_SHARED", ROOT.parent / "shared"))
    if not path.is_dir():
        message = f"shared test data not found at {path} (set ROLLOUTS_SHARED)"
        if _required():
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def catalog(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Path:
    """The acceptance schema catalog: the shared flux-schema catalog plus the Linkerd policy CRDs and the
    prometheus-operator CRDs (the SLO rules' PrometheusRule), built once per session by `schemas build`."""
    from rollouts.catalog.build import build

    out = tmp_path_factory.mktemp("full") / "schemas"
    report = build(str(out), None, [str(shared / "crds" / "linkerd"), str(shared / "crds" / "prometheus-operator")],
                   [str(shared / "schemas" / "flux-schema-catalog")])
    assert not report.findings
    return out


def find_tool(name: str) -> str | None:
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    """tool("kubeconform") -> its path; skipped with the reason when absent, a failure under CI."""

    def get(name: str) -> str:
        path = find_tool(name)
        if path is None:
            message = f"{name} is not installed (bash .ci/setup installs it)"
            if _required():
                pytest.fail(message)
            pytest.skip(message)
        return path

    return get


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``rollouts ARGS`` as a fresh process, as users and pre-commit do."""

    def run(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
            input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
        full_env.pop("GITHUB_ACTIONS", None)
        return subprocess.run([str(VENV_BIN / "rollouts"), *args], cwd=cwd or ROOT, env=full_env, text=True,
                              capture_output=True, input=input, timeout=timeout, check=False)

    return run
