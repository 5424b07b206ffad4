from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..cli import COMMANDS, output_options, report

F = TypeVar("F", bound=Callable[..., Any])


class _ManyValues(click.Command):
    """``--crds`` and ``--catalog`` take one or more values (``--crds a b --catalog c``), as documented; a click
    option takes one value per occurrence, so each further word is given its own option before parsing."""

    MANY = ("--crds", "--catalog")

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        spread: list[str] = []
        current = None
        for i, arg in enumerate(args):
            if arg == "--":
                spread += args[i:]
                break
            if arg.startswith("-"):
                name = arg.split("=", 1)[0]
                current = name if name in self.MANY else None
            elif current and spread[-1] != current:
                spread.append(current)
            spread.append(arg)
        return super().parse_args(ctx, spread)


@click.group("schemas", help=COMMANDS["schemas"])
def command() -> None:
    """The schemas group: build and fetch."""


def _common(f: F) -> F:
    f = click.option("--root", default=".", metavar="DIR", help="repository root (default: .)")(f)
    return click.option("--out", metavar="DIR",
                        help="catalog directory (default: $ROLLOUTS_SCHEMAS, else .rollouts/schemas under "
                        "--root)")(f)


@command.command("build", cls=_ManyValues,
                 short_help="write a catalog from kubernetes-validate, CRD files and catalogs (offline)",
                 help="Write a kubeconform catalog (<group>/<kind>_<version>.json). Layers, later wins: --catalog, "
                 "then the Kubernetes core kinds, then --crds.")
@_common
@click.option("--kubernetes-version", default=None, metavar="VERSION",
              help="Kubernetes version of the core kinds, from kubernetes-validate (default: 1.34)")
@click.option("--no-kubernetes", is_flag=True, help="leave the core kinds out")
@click.option("--crds", multiple=True, metavar="PATH...",
              help="CRD YAML files or directories (Helm-templated metadata lines are dropped)")
@click.option("--catalog", multiple=True, metavar="DIR...",
              help="existing catalogs in kubeconform layout to merge (e.g. flux-schema's catalog)")
@output_options
def build_command(out: str | None, root: str, kubernetes_version: str | None, no_kubernetes: bool,
                  crds: tuple[str, ...], catalog: tuple[str, ...], fmt: str, strict: bool) -> int:
    from ..catalog import DEFAULT_KUBERNETES_VERSION, catalog_dir

    target = catalog_dir(os.path.abspath(root), out)
    version = "" if no_kubernetes else kubernetes_version or DEFAULT_KUBERNETES_VERSION
    return _build(target, version, list(crds), list(catalog), fmt, strict)


@command.command("fetch", short_help="download the pinned upstream CRDs (online) and build the catalog",
                 help="Download the pinned upstream CRDs (Flagger, Gateway API, Flux, Linkerd policy), check each "
                 "against its sha256, then build the catalog from them plus the Kubernetes core kinds.")
@_common
@click.option("--pins", metavar="FILE", help="pins file (default: the built-in pins)")
@click.option("--cache", metavar="DIR",
              help="where the downloads are kept, in crds/ and catalogs/ (default: .rollouts under --root)")
@click.option("--kubernetes-version", default=None, metavar="VERSION", help="as for build (default 1.34)")
@click.option("--timeout", type=float, default=30, help="seconds per download (default: 30)")
@output_options
def fetch_command(out: str | None, root: str, pins: str | None, cache: str | None, kubernetes_version: str | None,
                  timeout: float, fmt: str, strict: bool) -> int:
    from ..catalog import DEFAULT_KUBERNETES_VERSION, FETCHED_DIR, catalog_dir
    from ..catalog.fetch import fetch

    target = catalog_dir(os.path.abspath(root), out)
    cache = os.path.abspath(cache or os.path.join(root, FETCHED_DIR))
    fetched = fetch(cache, pins, timeout)
    print(f"fetched {len(fetched.fetched)} file(s), {len(fetched.cached)} already current, into {cache}",
          file=sys.stderr)
    version = kubernetes_version or DEFAULT_KUBERNETES_VERSION
    return _build(target, version, fetched.crd_files, fetched.catalogs, fmt, strict)


def _build(target: str, version: str, crds: list[str], catalogs: list[str], fmt: str, strict: bool) -> int:
    from ..catalog.build import build

    result = build(target, version or None, crds, catalogs)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for source, count in result.counts.items():
        print(f"{count:5d} schemas from {source}", file=sys.stderr)
    print(f"wrote {result.total} schemas to {target}", file=sys.stderr)
    return report(result.findings, fmt, strict)
