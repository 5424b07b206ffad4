from __future__ import annotations

import sys

import click

from ..cli import COMMANDS, output_options, report


@click.command("lint", help=COMMANDS["lint"] + "\n\nPATH: rollouts.yaml files (default: services/*/rollouts.yaml).")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@output_options
@click.option("--explain", metavar="RULE", help="explain a rule: what it checks and why")
@click.option("--list-rules", is_flag=True, help="list every rule with its summary")
@click.option("--root", default=".", metavar="DIR", help="repository root (default: .)")
def command(paths: tuple[str, ...], fmt: str, strict: bool, explain: str | None, list_rules: bool, root: str) -> int:
    if explain or list_rules:
        from ..lint.explain import explain_rule, list_all

        text, ok = explain_rule(explain) if explain else (list_all(), True)
        (sys.stdout if ok else sys.stderr).write(text)
        return 0 if ok else 1
    from ..lint import lint
    from ..project import load_project

    result = lint(load_project(root), list(paths))
    rules = None
    if fmt == "sarif":
        from ..lint.rules import rule_summaries

        rules = rule_summaries()
    return report(result.findings, fmt, strict, rules=rules)
