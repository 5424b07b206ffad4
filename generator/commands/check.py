from __future__ import annotations

import os
import sys

import click

from ..cli import COMMANDS, output_options, report
from .validate import cache_dir, schema_options, skip_kinds


@click.command("check", help=COMMANDS["check"])
@schema_options
@output_options
@click.option("--root", default=".", metavar="DIR", help="repository root (default: .)")
@click.option("--tree", default=None, metavar="DIR", help="the rendered tree (default: flux/ under --root)")
@click.option("--diff", is_flag=True, help="print the render drift as a unified diff (stderr)")
def command(schemas: str | None, skip: tuple[str, ...], engine: str, promql: bool, kustomize: bool, cache: bool,
            fmt: str, strict: bool, root: str, tree: str | None, diff: bool) -> int:
    from ..project import load_project
    from ..validate.check import check

    tree = os.path.abspath(tree) if tree else "flux"
    project = load_project(root)
    result = check(project, tree_dir=tree, schema_dir=schemas, cache_dir=cache_dir(project.root, cache),
                   skip_kinds=skip_kinds(skip), promql=promql, kustomize=kustomize, engine=engine)
    if diff and result.diff:
        sys.stderr.write(result.diff)
    return report(result.findings, fmt, strict)
