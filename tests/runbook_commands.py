"""The commands of a runbook: every line of its fenced ``sh`` blocks, split as a shell would."""

from __future__ import annotations

import re
import shlex

_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


def commands(markdown: str) -> list[list[str]]:
    return [shlex.split(line) for block in _BLOCK.findall(markdown) for line in block.splitlines() if line.strip()]
