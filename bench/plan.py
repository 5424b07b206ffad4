"""Plan speed: ``rollouts plan`` of a synthetic repository of N services x 2 environments, beside the render of the
same specs in the same process (the reference: both start from the same resolved specs).

    .venv/bin/python bench/plan.py [--services 1000] [--runs 5]

Prints the best and median time of planning every service and environment from the loaded specs (what the plan
adds to loading them), the same for loading and linting, resolving and planning (what the command does after
discovery), and
the render's per-service documents of the same resolved specs, with the ratio plan / render. Target: the plan of
1,000 services x 2 environments in 0.5 s or less.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

from synthetic import make_repo  # bench/ is on sys.path when run as a script

TARGET = 0.5


def timed(work: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from rollouts.lint import load_and_lint
    from rollouts.project import load_project
    from rollouts.render.builders import service_documents
    from rollouts.render.plan import plan
    from rollouts.spec.load import Spec
    from rollouts.spec.resolve import environments, resolve

    with tempfile.TemporaryDirectory(prefix="rollouts-bench-") as repo:
        make_repo(repo, args.services)
        project = load_project(repo)
        paths = sorted(glob.glob(os.path.join(repo, "services", "*", "rollouts.yaml")))

        def load_all() -> list[Spec]:
            specs = []
            for path in paths:
                spec, findings = load_and_lint(project, path)  # as the command loads them: lint included
                assert spec is not None and not findings, findings
                specs.append(spec)
            return specs

        specs = load_all()
        resolved = [resolve(s, e) for s in specs for e in environments(s, project.environments)]
        pairs = len(resolved)
        plan_best, plan_median = timed(lambda: [plan(r) for r in resolved], args.runs)
        whole_best, whole_median = timed(
            lambda: [plan(resolve(s, e)) for s in load_all() for e in environments(s, project.environments)],
            max(1, args.runs // 2))
        render_best, render_median = timed(lambda: [service_documents(r) for r in resolved], args.runs)
    print(f"{args.services} services x 2 environments ({pairs} plans), best / median of {args.runs} runs")
    print(f"  plan (resolved specs)          {plan_best:7.3f} s  {plan_median:7.3f} s")
    print(f"  load + lint + resolve + plan   {whole_best:7.3f} s  {whole_median:7.3f} s")
    print(f"  render's documents (reference) {render_best:7.3f} s  {render_median:7.3f} s")
    print(f"  plan / render: {plan_median / render_median:.2f}")
    verdict = "met" if plan_median <= TARGET else "MISSED"
    print(f"plan of {pairs} in {plan_median:.3f} s (target <= {TARGET} s): {verdict}")
    sys.exit(0)


if __name__ == "__main__":
    main()
