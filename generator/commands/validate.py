from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from ..cli import add_output_options, report

if TYPE_CHECKING:
    from ..project import Project


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tree", nargs="?", default=None, metavar="TREE",
                        help="the rendered tree (default: flux/ under --root)")
    add_schema_options(parser)
    add_output_options(parser)
    parser.add_argument("--root", default=".", help="repository root (default: .)")


def add_schema_options(parser: argparse.ArgumentParser) -> None:
    """--schemas, --skip, --engine and the switches for the PromQL and kustomize checks (also used by check)."""
    parser.add_argument("--schemas", metavar="DIR",
                        help="schema catalog (default: $ROLLOUTS_SCHEMAS, else .rollouts/schemas under --root; "
                        "make one with `rollouts schemas build`)")
    parser.add_argument("--skip", action="append", default=[], metavar="KIND",
                        help="do not validate this kind (Kind or apiVersion/Kind); repeatable")
    parser.add_argument("--engine", choices=("auto", "kubeconform", "python"), default="auto",
                        help="schema validator: kubeconform, the in-process fallback, or auto (kubeconform when "
                        "installed; default)")
    parser.add_argument("--no-promql", dest="promql", action="store_false", help="skip the PromQL checks")
    parser.add_argument("--no-kustomize", dest="kustomize", action="store_false", help="skip kustomize build")
    parser.add_argument("--no-cache", dest="cache", action="store_false",
                        help="rebuild every kustomization (default: skip builds whose inputs match an earlier "
                        "successful build, remembered in .rollouts/cache)")


def cache_dir(root: str, enabled: bool) -> str | None:
    return os.path.join(root, ".rollouts", "cache") if enabled else None


def skip_kinds(values: list[str]) -> list[str]:
    return [k.strip() for v in values for k in v.split(",") if k.strip()]


def run(args: argparse.Namespace) -> int:
    from ..project import load_project
    from ..validate import validate

    project = load_project(args.root)
    tree = os.path.abspath(args.tree) if args.tree else "flux"
    findings = validate(project, tree, origins=lambda: _origins(project), schema_dir=args.schemas,
                        skip_kinds=skip_kinds(args.skip), promql=args.promql, kustomize=args.kustomize,
                        engine=args.engine, cache_dir=cache_dir(project.root, args.cache))
    code = report(findings, args.fmt, args.strict)
    if args.fmt == "text" and not findings:
        import sys

        tree_dir = tree if os.path.isabs(tree) else os.path.join(project.root, tree)
        count = sum(len(files) for _, _, files in os.walk(tree_dir))
        print(f"validated {count} file{'' if count == 1 else 's'} under {tree}: no problems", file=sys.stderr)
    return code


def _origins(project: Project) -> dict[str, dict[str, tuple[str, int, int]]]:
    """Render in memory to learn which spec line produced each field; asked only when there are findings."""
    import importlib

    try:
        render = importlib.import_module("..render", __package__).render
        result = render(project)
    except Exception:  # no renderer, or a spec that does not render: findings stay on the rendered files
        return {}
    return dict(result.origins)
