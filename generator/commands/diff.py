"""``rollouts diff [BASE] [-f text|json|markdown]``: what a change does to each release, against BASE."""

from __future__ import annotations

import json
import sys

import click

from ..cli import COMMANDS, report

DIFF_FORMATS = ("text", "json", "markdown")


@click.command("diff", help=COMMANDS["diff"])
@click.argument("base", required=False, metavar="[BASE]")
@click.option("-f", "--format", "fmt", type=click.Choice(DIFF_FORMATS), default="text", show_default=True,
              help="output format")
@click.option("--root", default=".", metavar="DIR", help="repository root (default: .)")
def command(base: str | None, fmt: str, root: str) -> int:
    from ..diff import DiffError, diff, markdown, text

    try:
        commit, diffs = diff(root, base)
    except DiffError as e:
        report(e.findings, "text", False)
        raise
    if fmt == "json":
        sys.stdout.write(json.dumps({"base": commit, "services": [d.to_dict() for d in diffs]}, indent=1,
                                    sort_keys=True, default=str) + "\n")
    else:
        sys.stdout.write((markdown if fmt == "markdown" else text)(commit, diffs))
    return 0
