from __future__ import annotations

import argparse
import os
import sys

from ..cli import add_output_options, report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="write a catalog from kubernetes-validate, CRD files and catalogs (offline)",
                           description="Write a kubeconform catalog (<group>/<kind>_<version>.json). Layers, later "
                           "wins: --catalog, then the Kubernetes core kinds, then --crds.")
    _common(build)
    build.add_argument("--kubernetes-version", default=None, metavar="VERSION",
                       help="Kubernetes version of the core kinds, from kubernetes-validate (default: 1.34)")
    build.add_argument("--no-kubernetes", action="store_true", help="leave the core kinds out")
    build.add_argument("--crds", nargs="+", action="extend", default=[], metavar="PATH",
                       help="CRD YAML files or directories (Helm-templated metadata lines are dropped)")
    build.add_argument("--catalog", nargs="+", action="extend", default=[], metavar="DIR",
                       help="existing catalogs in kubeconform layout to merge (e.g. flux-schema's catalog)")
    add_output_options(build)
    fetch = sub.add_parser("fetch", help="download the pinned upstream CRDs (online) and build the catalog",
                           description="Download the pinned upstream CRDs (Flagger, Gateway API, Flux, Linkerd "
                           "policy), check each against its sha256, then build the catalog from them plus the "
                           "Kubernetes core kinds.")
    _common(fetch)
    fetch.add_argument("--pins", metavar="FILE", help="pins file (default: the built-in pins)")
    fetch.add_argument("--cache", metavar="DIR",
                       help="where the downloads are kept, in crds/ and catalogs/ (default: .rollouts under --root)")
    fetch.add_argument("--kubernetes-version", default=None, metavar="VERSION", help="as for build (default 1.34)")
    fetch.add_argument("--timeout", type=float, default=30, help="seconds per download (default: 30)")
    add_output_options(fetch)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR",
                        help="catalog directory (default: $ROLLOUTS_SCHEMAS, else .rollouts/schemas under --root)")
    parser.add_argument("--root", default=".", help="repository root (default: .)")


def run(args: argparse.Namespace) -> int:
    from ..catalog import DEFAULT_KUBERNETES_VERSION, FETCHED_DIR, catalog_dir
    from ..catalog.build import build

    out = catalog_dir(os.path.abspath(args.root), args.out)
    version = args.kubernetes_version or DEFAULT_KUBERNETES_VERSION
    crds = list(getattr(args, "crds", []))
    catalogs = list(getattr(args, "catalog", []))
    if args.action == "fetch":
        from ..catalog.fetch import fetch

        cache = os.path.abspath(args.cache or os.path.join(args.root, FETCHED_DIR))
        fetched = fetch(cache, args.pins, args.timeout)
        print(f"fetched {len(fetched.fetched)} file(s), {len(fetched.cached)} already current, into {cache}",
              file=sys.stderr)
        crds = fetched.crd_files
        catalogs = fetched.catalogs
    elif args.no_kubernetes:
        version = ""
    result = build(out, version or None, crds, catalogs)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for source, count in result.counts.items():
        print(f"{count:5d} schemas from {source}", file=sys.stderr)
    print(f"wrote {result.total} schemas to {out}", file=sys.stderr)
    return report(result.findings, args.fmt, args.strict)
