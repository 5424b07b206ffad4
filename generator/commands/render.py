"""``rollouts render [--env ENV] [--service NAME] [--check] [--out DIR]``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING

from ..cli import add_output_options, report

if TYPE_CHECKING:
    pass

PROGRESS_AFTER = 0.5  # seconds: short renders never show a bar (ROLLOUTS_PROGRESS_AFTER overrides)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", action="append", metavar="ENV",
                        help="render only this environment (repeatable); the rest of the tree is kept")
    parser.add_argument("--service", action="append", metavar="NAME",
                        help="render only this service (repeatable); the rest of the tree is kept")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 with a unified diff when the tree differs from the render")
    parser.add_argument("--out", default="flux", metavar="DIR", help="output directory (default: flux)")
    parser.add_argument("--root", default=".", help="repository root (default: .)")
    parser.add_argument("--no-cache", action="store_true",
                        help="lint and render every spec, ignoring .rollouts/cache (the cache only ever skips specs "
                             "whose rendered files are already in the tree byte for byte)")
    add_output_options(parser)


class Progress:
    """A one-line bar on stderr, only on a terminal and only once a render has run for a while."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.after = float(os.environ.get("ROLLOUTS_PROGRESS_AFTER", PROGRESS_AFTER))
        self.enabled = sys.stderr.isatty() and not os.environ.get("CI")
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or (not self.shown and time.monotonic() - self.start < self.after):
            return
        if done != total and done % 25 and self.shown:
            return
        self.shown = True
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\rrendering [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from ..project import load_project
    from ..render import RenderCache, check_tree, options_from_project, render, write_tree
    from ..render.model import user_secrets

    project = load_project(args.root)
    options = options_from_project(project)
    envs = tuple(e for e in project.environments if not args.env or e in args.env)
    cache = None if args.no_cache else RenderCache(project, options, envs, args.out)
    progress = Progress()
    try:
        result = render(project, environments=args.env, services=args.service, progress=progress,
                        parse_back=not args.check, options=options, cache=cache,
                        compare_dir=args.out if args.check else None)
    finally:
        progress.close()
    if not result.ok:
        return report(result.findings, args.fmt, args.strict)
    if args.check:
        # json, github, sarif: the diff travels in each drift finding; text prints it whole
        findings, diff = check_tree(project, result, args.out, diff_in_findings=args.fmt != "text")
        if diff and args.fmt == "text":
            sys.stdout.write(diff)
            sys.stdout.flush()
        code = report(result.findings + findings, args.fmt, args.strict)
        if cache is not None and not findings:
            cache.save()
        return code
    write_tree(project, result, args.out)
    if cache is not None:
        cache.save()
    code = report(result.findings, args.fmt, args.strict)
    if code == 0 and args.fmt == "text":
        print(f"rendered {len(result.files)} files into {args.out}/", file=sys.stderr)
        secrets = user_secrets(result.files)
        if secrets:
            print("create these Secrets in the cluster (the tree never holds them):", file=sys.stderr)
            for s in secrets:
                print(f"  {s.namespace}/{s.name} (key {', '.join(s.keys)}) for {s.used_by}", file=sys.stderr)
    return code
