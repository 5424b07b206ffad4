from __future__ import annotations

import argparse
import os
import sys

from ..cli import add_output_options, report
from .validate import add_schema_options, cache_dir, skip_kinds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_schema_options(parser)
    add_output_options(parser)
    parser.add_argument("--root", default=".", help="repository root (default: .)")
    parser.add_argument("--tree", default=None, help="the rendered tree (default: flux/ under --root)")
    parser.add_argument("--diff", action="store_true", help="print the render drift as a unified diff (stderr)")


def run(args: argparse.Namespace) -> int:
    from ..project import load_project
    from ..validate.check import check

    tree = os.path.abspath(args.tree) if args.tree else "flux"
    project = load_project(args.root)
    result = check(project, tree_dir=tree, schema_dir=args.schemas, cache_dir=cache_dir(project.root, args.cache),
                   skip_kinds=skip_kinds(args.skip), promql=args.promql, kustomize=args.kustomize,
                   engine=args.engine)
    if args.diff and result.diff:
        sys.stderr.write(result.diff)
    return report(result.findings, args.fmt, args.strict)
