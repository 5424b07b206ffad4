"""``rollouts backtest --prometheus URL --from T --to T``: Flagger's analysis replayed over recorded history."""

from __future__ import annotations

import json
import sys
import time

import click

from ..cli import COMMANDS, report

BACKTEST_FORMATS = ("text", "json", "markdown")


@click.command("backtest", help=COMMANDS["backtest"])
@click.option("--prometheus", "url", required=True, metavar="URL",
              help="the Prometheus that holds the history, such as http://127.0.0.1:9090")
@click.option("--from", "start", required=True, metavar="T", help="start: RFC 3339, unix seconds or now-30d")
@click.option("--to", "end", default="now", show_default=True, metavar="T", help="end, as --from")
@click.option("--service", multiple=True, metavar="NAME", help="only this service (repeatable)")
@click.option("--env", multiple=True, metavar="ENV", help="only this environment (repeatable)")
@click.option("--healthy", multiple=True, metavar="FROM/TO",
              help="a window of healthy history (repeatable; default: the whole range but the incidents)")
@click.option("--incident", multiple=True, metavar="FROM/TO",
              help="a window of a known incident, for its detection delay (repeatable)")
@click.option("--target", "target_rate", type=click.FloatRange(0, 100), default=2.0, show_default=True,
              metavar="PERCENT", help="the false-abort rate the suggested thresholds stay within")
@click.option("-f", "--format", "fmt", type=click.Choice(BACKTEST_FORMATS), default="text", show_default=True,
              help="output format")
@click.option("--root", default=".", metavar="DIR", help="repository root (default: .)")
def command(url: str, start: str, end: str, service: tuple[str, ...], env: tuple[str, ...], healthy: tuple[str, ...],
            incident: tuple[str, ...], target_rate: float, fmt: str, root: str) -> int:
    from ..backtest import backtest, markdown, parse_time, parse_window, target, text
    from ..errors import RolloutsError
    from ..lint import load_and_lint
    from ..project import discover, load_project
    from ..prometheus import Prometheus
    from ..spec.resolve import environments, resolve

    now = time.time()
    try:
        begin, finish = parse_time(start, now), parse_time(end, now)
        healthy_windows = [parse_window(w, now) for w in healthy]
        incidents = [parse_window(w, now) for w in incident]
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    if finish <= begin:
        raise click.BadParameter(f"--to {end} is not after --from {start}")
    prometheus = Prometheus(url)
    project = load_project(root)
    paths, findings = discover(project)
    known = {p.replace("\\", "/").split("/")[-2] for p in paths}
    unknown = sorted(set(service) - known)
    if unknown:
        raise RolloutsError(f"no services/{unknown[0]}/rollouts.yaml", f"services here: {', '.join(sorted(known))}")
    targets = []
    for path in paths:
        if service and path.replace("\\", "/").split("/")[-2] not in service:
            continue
        spec, found = load_and_lint(project, path)
        findings += found
        if spec is None or any(f.severity.value == "error" for f in found):
            continue
        for environment in environments(spec, project.environments):
            if not env or environment in env:
                item, problems = target(spec, resolve(spec, environment))
                findings += problems
                if item is not None:
                    targets.append(item)
    errors = [f for f in findings if f.severity.value == "error"]
    if errors:
        return report(errors, "text", False)
    with click.progressbar(length=1, label="query_range", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        results, refused = backtest(targets, prometheus, begin, finish, healthy_windows, incidents, target_rate,
                                    progress)
    if fmt == "json":
        sys.stdout.write(json.dumps([r.to_dict() for r in results], indent=1, sort_keys=True) + "\n")
    else:
        sys.stdout.write((markdown if fmt == "markdown" else text)(results))
    return report(refused, "text", False) if refused else 0
