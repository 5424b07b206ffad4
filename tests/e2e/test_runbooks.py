"""Every kubectl command of the runbooks is one the real kubectl accepts: its subcommand and flags parse
(``kubectl ARGS --help`` reads no cluster and exits 0 only then)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from tests.runbook_commands import commands
from tests.test_runbook import example_runbooks, platform

pytestmark = pytest.mark.e2e


def test_every_kubectl_command_of_the_runbooks_parses(need_bin: Callable[[str], str]) -> None:
    kubectl = need_bin("kubectl")
    texts = [*example_runbooks().values(), platform()]
    checked = {tuple(c) for text in texts for c in commands(text) if c[0] == "kubectl"}
    assert len(checked) > 20
    for command in sorted(checked):
        done = subprocess.run([kubectl, *command[1:], "--help"], capture_output=True, text=True, timeout=30,
                              check=False)
        assert done.returncode == 0, f"{' '.join(command)}: {done.stderr}"
        # a mistyped flag would fail with an error, not print the command's help
        assert "Usage:" in done.stdout, command
