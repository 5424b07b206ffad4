from __future__ import annotations

import argparse
import sys

from ..cli import add_output_options, report

SYMBOL = {"ok": "ok", "failed": "FAILED", "unchanged": "unchanged"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default=".", help="the repository with services/*/rollouts.yaml (default: .)")
    parser.add_argument("--cache-dir", metavar="DIR", help="where the development keys and the local GitOps "
                        "repository live (default: $XDG_CACHE_HOME/rollouts or ~/.cache/rollouts)")
    parser.add_argument("--gitops-repo", metavar="PATH_OR_URL",
                        help="commit to this GitOps repository instead of the local one under the cache directory")
    parser.add_argument("--branch", default="main", help="GitOps branch (default: main)")
    parser.add_argument("--schemas", metavar="DIR", help="schema catalog for validate (default: see rollouts "
                        "validate; the schemas the package ships when there is no other)")
    parser.add_argument("--skip", action="append", default=[], metavar="KIND",
                        help="validate: do not check this kind against a schema (repeatable; listed in the summary)")
    add_output_options(parser)


def run(args: argparse.Namespace) -> int:
    from ..pipeline import pipeline

    result = pipeline(args.root, cache=args.cache_dir, gitops_repo=args.gitops_repo, branch=args.branch,
                      schema_dir=args.schemas, skip_kinds=tuple(args.skip))
    code = report(result.findings, args.fmt, args.strict)
    out = sys.stdout if args.fmt == "text" else sys.stderr
    print("rollouts pipeline summary:", file=out)
    for step in result.steps:
        print(f"  {step.name:<16} {SYMBOL.get(step.status, step.status):<9} {step.detail}", file=out)
    print(f"  GitOps repository: {result.gitops}", file=out)
    print(f"  cache (development-only keys, outside the repository): {result.cache}", file=out)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if not result.ok:
        return code or 1
    return code
