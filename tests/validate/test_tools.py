"""External programs: a run that hangs or cannot start is a user error naming the program, not an internal error."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from rollouts import tools
from rollouts.errors import RolloutsError
from rollouts.validate import kustomize


def test_a_program_that_does_not_finish_in_time_is_a_user_error_naming_it() -> None:
    with pytest.raises(RolloutsError, match=r"^sleep did not finish within 0.2 s") as caught:
        tools.run(["sleep", "5"], timeout=0.2)
    assert "sleep --help" in caught.value.hint


def test_a_program_the_system_cannot_start_is_a_user_error_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "kustomize"
    broken.write_text("not a program")  # not executable
    with pytest.raises(RolloutsError, match=r"^cannot run .*kustomize: Permission denied") as caught:
        tools.run([str(broken), "build"])
    assert "bash .ci/setup" in caught.value.hint


def test_a_kustomize_build_over_its_time_limit_is_a_user_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    slow = tmp_path / "kustomize"
    slow.write_text("#!/bin/sh\nsleep 5\n")
    slow.chmod(0o755)
    monkeypatch.setitem(tools.TIMEOUTS, "kustomize", 0.2)
    with pytest.raises(RolloutsError, match=r"^kustomize did not finish within 0.2 s: build"):
        kustomize._run(str(slow), str(tmp_path))


def test_the_venv_copy_comes_before_path(tmp_path: Path) -> None:
    assert tools.find("no-such-program-rollouts") is None
    python = tools.find(os.path.basename(sys.executable))
    assert python is not None and os.path.dirname(python) == os.path.dirname(sys.executable)
