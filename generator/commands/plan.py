"""``rollouts plan [--service S] [--env E] [-f text|json|markdown]``: what each rollout will do, before the merge."""

from __future__ import annotations

import json
import math
import sys
import time

import click

from ..cli import COMMANDS, report

PLAN_FORMATS = ("text", "json", "markdown")


@click.command("plan", help=COMMANDS["plan"])
@click.option("--service", multiple=True, metavar="NAME", help="plan only this service (repeatable)")
@click.option("--env", multiple=True, metavar="ENV", help="plan only this environment (repeatable)")
@click.option("-f", "--format", "fmt", type=click.Choice(PLAN_FORMATS), default="text", show_default=True,
              help="output format")
@click.option("--prometheus", "url", metavar="URL",
              help="a Prometheus to ask each primary's request rate, for the requests a rollout exposes")
@click.option("--root", default=".", metavar="DIR", help="repository root (default: .)")
def command(service: tuple[str, ...], env: tuple[str, ...], fmt: str, url: str | None, root: str) -> int:
    from ..errors import RolloutsError
    from ..lint import load_and_lint
    from ..project import discover, load_project
    from ..prometheus import Prometheus, QueryError
    from ..render.plan import markdown, plan, request_rate_query, text
    from ..spec.resolve import environments, resolve

    project = load_project(root)
    paths, findings = discover(project)
    known = {p.replace("\\", "/").split("/")[-2] for p in paths}
    unknown = sorted(set(service) - known)
    if unknown:
        raise RolloutsError(f"no services/{unknown[0]}/rollouts.yaml", f"services here: {', '.join(sorted(known))}")
    prometheus = Prometheus(url) if url else None
    now = time.time()
    plans = []
    for path in paths:
        if service and path.replace("\\", "/").split("/")[-2] not in service:
            continue
        spec, found = load_and_lint(project, path)
        findings += found
        if spec is None or any(f.severity.value == "error" for f in found):
            continue
        for environment in environments(spec, project.environments):
            if not env or environment in env:
                resolved = resolve(spec, environment)
                rate = None
                if prometheus is not None:
                    try:
                        rate = prometheus.query(request_rate_query(resolved), now)
                        rate = math.nan if rate is None else rate
                    except QueryError as e:
                        raise RolloutsError(f"Prometheus refused the request-rate query: {e}",
                                            "Check --prometheus: the Prometheus that scrapes the Linkerd proxies.") \
                            from None
                plans.append(plan(resolved, rate))
    errors = [f for f in findings if f.severity.value == "error"]
    if errors:
        return report(errors, "text", False)
    if fmt == "json":
        sys.stdout.write(json.dumps([p.to_dict() for p in plans], indent=1, sort_keys=True) + "\n")
    else:
        sys.stdout.write((markdown if fmt == "markdown" else text)(plans))
    return 0
