from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

import click

from ..cli import COMMANDS, output_options, report

if TYPE_CHECKING:
    from ..pipeline import PipelineResult

SYMBOL = {"ok": "ok", "failed": "FAILED", "unchanged": "unchanged"}


@click.command("pipeline", help=COMMANDS["pipeline"])
@click.option("--root", default=".", metavar="DIR",
              help="the repository with services/*/rollouts.yaml (default: .)")
@click.option("--cache-dir", metavar="DIR",
              help="where the development keys and the local GitOps repository live (default: "
              "$XDG_CACHE_HOME/rollouts or ~/.cache/rollouts)")
@click.option("--gitops-repo", metavar="PATH_OR_URL",
              help="commit to this GitOps repository instead of the local one under the cache directory")
@click.option("--branch", default="main", metavar="B", help="GitOps branch (default: main)")
@click.option("--schemas", metavar="DIR", help="schema catalog for validate (default: see rollouts validate; the "
              "schemas the package ships when there is no other)")
@click.option("--skip", multiple=True, metavar="KIND",
              help="validate: do not check this kind against a schema (repeatable; listed in the summary)")
@click.option("--allow-dirty", is_flag=True,
              help="run on uncommitted changes to the specs (the commit message and the bundle name them; "
              "default: refuse)")
@output_options
def command(root: str, cache_dir: str | None, gitops_repo: str | None, branch: str, schemas: str | None,
            skip: tuple[str, ...], allow_dirty: bool, fmt: str, strict: bool) -> int:
    from ..pipeline import pipeline

    result = pipeline(root, cache=cache_dir, gitops_repo=gitops_repo, branch=branch, schema_dir=schemas,
                      skip_kinds=tuple(skip), allow_dirty=allow_dirty)
    code = report(result.findings, fmt, strict)
    print_summary(result, sys.stdout if fmt == "text" else sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if not result.ok:
        return code or 1
    return code


def print_summary(result: PipelineResult, out: TextIO) -> None:
    """One line per step; the status column starts where the longest step name ends."""
    width = max((len(step.name) for step in result.steps), default=0)
    status_width = max((len(SYMBOL.get(step.status, step.status)) for step in result.steps), default=0)
    print("rollouts pipeline summary:", file=out)
    for step in result.steps:
        print(f"  {step.name:<{width}}  {SYMBOL.get(step.status, step.status):<{status_width}}  {step.detail}".rstrip(),
              file=out)
    print(f"  GitOps repository: {result.gitops}", file=out)
    print(f"  cache (development-only keys, outside the repository): {result.cache}", file=out)
