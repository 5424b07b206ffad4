from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..cli import COMMANDS, output_options, report

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..project import Project
    from ..render.origins import Position

    Origins = Mapping[str, Mapping[str, Position]]

F = TypeVar("F", bound=Callable[..., Any])


def schema_options(f: F) -> F:
    """--schemas, --skip, --engine and the switches for the PromQL and kustomize checks (also used by check);
    parameters schemas, skip, engine, promql, kustomize and cache."""
    options = [
        click.option("--schemas", metavar="DIR",
                     help="schema catalog (default: $ROLLOUTS_SCHEMAS, else .rollouts/schemas under --root; make one "
                     "with `rollouts schemas build`)"),
        click.option("--skip", multiple=True, metavar="KIND",
                     help="do not validate this kind (Kind or apiVersion/Kind); repeatable"),
        click.option("--engine", type=click.Choice(("auto", "kubeconform", "python")), default="auto",
                     help="schema validator: kubeconform, the in-process fallback, or auto (kubeconform when "
                     "installed; default)"),
        click.option("--no-promql", "promql", is_flag=True, flag_value=False, default=True,
                     help="skip the PromQL checks"),
        click.option("--no-kustomize", "kustomize", is_flag=True, flag_value=False, default=True,
                     help="skip kustomize build"),
        click.option("--no-cache", "cache", is_flag=True, flag_value=False, default=True,
                     help="rebuild every kustomization (default: skip builds whose inputs match an earlier "
                     "successful build, remembered in .rollouts/cache)"),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def cache_dir(root: str, enabled: bool) -> str | None:
    return os.path.join(root, ".rollouts", "cache") if enabled else None


def skip_kinds(values: tuple[str, ...] | list[str]) -> list[str]:
    return [k.strip() for v in values for k in v.split(",") if k.strip()]


class Stages:
    """The stage validate is in, on one stderr line that is cleared at the end; only on a terminal, never in CI
    (a log gets the one-line summary instead)."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty() and not os.environ.get("CI")
        self.shown = False

    def __call__(self, stage: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\r\033[Kvalidating: {stage}...")
            sys.stderr.flush()
            self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


@click.command("validate", help=COMMANDS["validate"] + "\n\nTREE: the rendered tree (default: flux/ under --root).")
@click.argument("tree", required=False, metavar="[TREE]")
@schema_options
@output_options
@click.option("--root", default=".", metavar="DIR", help="repository root (default: .)")
def command(tree: str | None, schemas: str | None, skip: tuple[str, ...], engine: str, promql: bool, kustomize: bool,
            cache: bool, fmt: str, strict: bool, root: str) -> int:
    from ..project import load_project
    from ..validate import validation

    project = load_project(root)
    tree = os.path.abspath(tree) if tree else "flux"
    stages = Stages()
    try:
        result = validation(project, tree, origins=lambda: _origins(project), schema_dir=schemas,
                            skip_kinds=skip_kinds(skip), promql=promql, kustomize=kustomize, engine=engine,
                            cache_dir=cache_dir(project.root, cache), progress=stages)
    finally:
        stages.close()
    code = report(result.findings, fmt, strict)
    if fmt == "text" and not result.findings:
        count = result.files
        print(f"validated {count} file{'' if count == 1 else 's'} under {tree}: no problems", file=sys.stderr)
    return code


def _origins(project: Project) -> Origins:
    """Asked only when there are findings to map: the release stages (render, sign, verify) are imported then."""
    from ..stages import rendered_origins

    return rendered_origins(project)
