"""``rollouts render [--env ENV] [--service NAME] [--check] [--out DIR]``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING

from ..cli import add_output_options, report

if TYPE_CHECKING:
    from ..findings import Finding

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


DIFF_LINES = 40  # lines of unified diff carried in each drift finding in json, github and sarif output


def with_diffs(findings: list[Finding], diff: str) -> list[Finding]:
    """Append to each drift finding's message the first lines of its file's part of the unified diff."""
    chunks: dict[str, list[str]] = {}
    lines = diff.splitlines()
    current: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            current = []
            for header in (line[4:], lines[i + 1][4:]):
                if header != "/dev/null":
                    chunks[header.split("/", 1)[1] if header[:2] in ("a/", "b/") else header] = current
        current.append(line)
    out = []
    for f in findings:
        chunk = chunks.get(f.file)
        if f.rule == "render-drift" and chunk:
            shown = chunk[:DIFF_LINES] + ([f"... ({len(chunk) - DIFF_LINES} more lines)"]
                                          if len(chunk) > DIFF_LINES else [])
            f = f._replace(message=f.message + "\n" + "\n".join(shown))
        out.append(f)
    return out


def run(args: argparse.Namespace) -> int:
    from ..project import load_project
    from ..render import RenderCache, check_tree, options_from_project, render, write_tree
    from ..render.model import user_secrets

    project = load_project(args.root)
    if args.check:
        out_dir = args.out if os.path.isabs(args.out) else os.path.join(project.root, args.out)
        if not os.path.isdir(out_dir):  # one finding, not a diff that adds every file
            from ..findings import error

            return report([error("render-drift", args.out, 0, 0, f"{args.out}/ does not exist",
                                 hint="run `rollouts render` to create it")], args.fmt, args.strict)
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
        findings, diff = check_tree(project, result, args.out)
        if diff and args.fmt == "text":
            sys.stdout.write(diff)
            sys.stdout.flush()
        if diff and args.fmt != "text":  # json, github, sarif: the diff travels in each drift finding
            findings = with_diffs(findings, diff)
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
