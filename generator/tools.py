"""The external programs validate runs (kubeconform, kustomize, promtool): where they are, and running them.

A program is looked up next to the interpreter first (``.ci/setup`` installs the pinned versions into the venv's
``bin``), then on ``PATH``. A run that times out, or that the system refuses to start, is a user error that names
the program and what to do, never an internal error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from .errors import RolloutsError

# How long one run may take before it is stopped: generous, since a stuck program is the only thing it catches.
TIMEOUTS = {"kubeconform": 900.0, "kustomize": 900.0, "promtool": 300.0}


def find(name: str) -> str | None:
    """The venv's ``name`` (next to the interpreter), else the one on PATH, else None."""
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(candidate, os.X_OK):
        return candidate
    return shutil.which(name)


def run(argv: list[str], *, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion (text output captured); never raises for its exit status."""
    name = os.path.basename(argv[0])
    limit = timeout if timeout is not None else TIMEOUTS.get(name, 300.0)
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=limit)
    except subprocess.TimeoutExpired:
        raise RolloutsError(f"{name} did not finish within {limit:g} s: {' '.join(argv[1:4])} ...",
                            f"Check that {name} works on its own ({name} --help), then run again; a very large "
                            "tree can be validated per environment (--env).") from None
    except OSError as e:
        raise RolloutsError(f"cannot run {argv[0]}: {e.strerror or e}",
                            f"Reinstall {name} (bash .ci/setup installs the pinned version) or put a working one "
                            "on PATH.") from None
