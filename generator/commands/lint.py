from __future__ import annotations

import argparse
import sys

from ..cli import add_output_options, report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="rollouts.yaml files (default: services/*/rollouts.yaml)")
    add_output_options(parser)
    parser.add_argument("--explain", metavar="RULE", help="explain a rule: what it checks and why")
    parser.add_argument("--list-rules", action="store_true", help="list every rule with its summary")
    parser.add_argument("--root", default=".", help="repository root (default: .)")


def run(args: argparse.Namespace) -> int:
    if args.explain or args.list_rules:
        from ..lint.explain import explain_rule, list_all

        text, ok = explain_rule(args.explain) if args.explain else (list_all(), True)
        (sys.stdout if ok else sys.stderr).write(text)
        return 0 if ok else 1
    from ..lint import lint
    from ..project import load_project

    result = lint(load_project(args.root), args.paths)
    rules = None
    if args.fmt == "sarif":
        from ..lint.rules import rule_summaries

        rules = rule_summaries()
    return report(result.findings, args.fmt, args.strict, rules=rules)
