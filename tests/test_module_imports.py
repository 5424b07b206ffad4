"""Every first-party import sits at a module's top (issue 13): only the CLI and its command modules import lazily,
so that a command pays only for what it runs. An import inside a function elsewhere hides a dependency (and the
import-linter contracts read imports wherever they are, so it hides nothing from them)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "generator"


def test_no_first_party_import_inside_a_function_outside_the_cli() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "commands" in path.relative_to(PACKAGE).parts or path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found += [f"{path.relative_to(PACKAGE)}:{sub.lineno} in {node.name}" for sub in ast.walk(node)
                          if isinstance(sub, ast.ImportFrom)
                          and (sub.level > 0 or (sub.module or "").split(".")[0] == "rollouts")]
    assert not found, found
