"""``rollouts render [--env ENV] [--service NAME] [--check] [--out DIR]``."""

from __future__ import annotations

import os
import sys
import time

import click

from ..cli import COMMANDS, output_options, report

PROGRESS_AFTER = 0.5  # seconds: short renders never show a bar (ROLLOUTS_PROGRESS_AFTER overrides)


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


@click.command("render", help=COMMANDS["render"])
@click.option("--env", multiple=True, metavar="ENV",
              help="render only this environment (repeatable); the rest of the tree is kept")
@click.option("--service", multiple=True, metavar="NAME",
              help="render only this service (repeatable); the rest of the tree is kept")
@click.option("--check", is_flag=True,
              help="write nothing; exit 1 with a unified diff when the tree differs from the render")
@click.option("--out", default="flux", metavar="DIR", help="output directory (default: flux)")
@click.option("--root", default=".", metavar="DIR", help="repository root (default: .)")
@click.option("--no-cache", is_flag=True,
              help="lint and render every spec, ignoring .rollouts/cache (the cache only ever skips specs whose "
              "rendered files are already in the tree byte for byte)")
@output_options
def command(env: tuple[str, ...], service: tuple[str, ...], check: bool, out: str, root: str, no_cache: bool,
            fmt: str, strict: bool) -> int:
    from ..project import load_project
    from ..render import RenderCache, check_tree, options_from_project, render, write_tree
    from ..render.model import user_secrets

    environments, services = list(env) or None, list(service) or None
    project = load_project(root)
    options = options_from_project(project)
    envs = tuple(e for e in project.environments if not environments or e in environments)
    cache = None if no_cache else RenderCache(project, options, envs, out)
    progress = Progress()
    try:
        result = render(project, environments=environments, services=services, options=options, progress=progress,
                        cache=cache, check_against=out if check else None)
    finally:
        progress.close()
    if not result.ok:
        return report(result.findings, fmt, strict)
    if check:
        # json, github, sarif: the diff travels in each drift finding; text prints it whole
        findings, diff = check_tree(project, result, out, diff_in_findings=fmt != "text")
        if diff and fmt == "text":
            sys.stdout.write(diff)
            sys.stdout.flush()
        code = report(result.findings + findings, fmt, strict)
        if cache is not None and not findings:
            cache.save()
        return code
    write_tree(project, result, out)
    if cache is not None:
        cache.save()
    code = report(result.findings, fmt, strict)
    if code == 0 and fmt == "text":
        print(f"rendered {len(result.files)} files into {out}/", file=sys.stderr)
        secrets = user_secrets(result.files)
        if secrets:
            print("create these Secrets in the cluster (the tree never holds them):", file=sys.stderr)
            for s in secrets:
                print(f"  {s.namespace}/{s.name} (key {', '.join(s.keys)}) for {s.used_by}", file=sys.stderr)
    return code
