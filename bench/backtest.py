"""Backtest speed: ``rollouts backtest`` of N services over D days of 1-minute data, with a real Prometheus
(Debian's /usr/bin/prometheus) answering on 127.0.0.1, beside a reference run in the same process: the same
query_range requests fetched and decoded, nothing judged.

    .venv/bin/python bench/backtest.py [--services 100] [--days 30] [--runs 3]

The history (each service's primary: response_total success and failure every minute, with seeded failure bursts)
is written as OpenMetrics and backfilled with promtool once, cached under ~/.cache/rollouts/bench/ by its
parameters. Prints the best and median time of the backtest (fetch + judge: false aborts, no-data windows,
suggestions) and of the reference, and their ratio. Target: 100 services x 30 days in 10 s or less.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.prometheus_history

from tests.prometheus_history import backfill, serving

TARGET = 10.0
START = 1793491200  # 2026-11-01T00:00:00Z
SPEC = """\
apiVersion: rollouts/v1alpha1
kind: ServiceRollout
metadata: {name: NAME, namespace: shop, owner: team}
spec:
  workload:
    chart: {repository: oci://ghcr.io/acme/charts/NAME, version: 1.0.0}
    image: {repository: ghcr.io/acme/NAME, tag: 1.0.0}
    steadyTraffic: true
  strategy: {type: canary, steps: [10, 30, 60], interval: 1m, threshold: 2}
  slo: {successRate: 99, interval: 2m}
  environments:
    production: {}
"""


def history(services: int, days: int) -> Iterator[str]:
    rng = random.Random(1)
    ok = [0] * services
    bad = [0] * services
    labels = [(f'response_total{{classification="success",deployment="svc{i:03d}-primary",direction="inbound",'
               f'namespace="shop"}}',
               f'response_total{{classification="failure",deployment="svc{i:03d}-primary",direction="inbound",'
               f'namespace="shop"}}') for i in range(services)]
    for minute in range(-5, days * 1440):
        at = START + minute * 60
        for i in range(services):
            ok[i] += 6000
            if rng.random() < 0.01:
                bad[i] += rng.randrange(10, 200)
            yield f"{labels[i][0]} {ok[i]} {at}"
            yield f"{labels[i][1]} {bad[i]} {at}"


def timed(work: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from rollouts.backtest import backtest, target
    from rollouts.prometheus import MAX_POINTS, Prometheus
    from rollouts.spec.load import load
    from rollouts.spec.resolve import resolve

    promtool, prometheus = shutil.which("promtool"), shutil.which("prometheus")
    if not promtool or not prometheus:
        sys.exit("promtool and prometheus are needed (bash .ci/setup installs Debian's prometheus)")
    cache = Path(os.path.expanduser("~/.cache/rollouts/bench")) / f"backtest-{args.services}x{args.days}d-v1"
    if not (cache / "data").is_dir():
        print(f"writing and backfilling {args.services} services x {args.days} days of 1-minute samples "
              f"into {cache} (once)", file=sys.stderr)
        shutil.rmtree(cache, ignore_errors=True)
        building = Path(str(cache) + ".tmp")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        backfill(promtool, history(args.services, args.days), building, block=f"{(args.days + 1) * 24}h")
        (building / "history.om").unlink()
        building.rename(cache)
    end = START + (args.days * 1440 - 1) * 60
    with tempfile.TemporaryDirectory(prefix="rollouts-bench-") as scratch:
        targets = []
        for i in range(args.services):
            path = Path(scratch) / f"svc{i:03d}.yaml"
            path.write_text(SPEC.replace("NAME", f"svc{i:03d}"))
            spec, findings = load(str(path))
            assert spec is not None, findings
            item, problems = target(spec, resolve(spec, "production"))
            assert item is not None, problems
            targets.append(item)
        run_dir = Path(scratch) / "prometheus"
        shutil.copytree(cache / "data", run_dir / "data")
        with serving(prometheus, run_dir / "data", run_dir) as url:
            client = Prometheus(url)
            count = (end - START) // 60 + 1

            def reference() -> None:
                for item in targets:
                    for metric in item.metrics:
                        for first in range(0, count, MAX_POINTS):
                            client.query_range(metric.query, START + first * 60, 60, min(MAX_POINTS, count - first))

            def run() -> None:
                results, refused = backtest(targets, client, START, end, [], [])
                assert not refused and len(results) == args.services

            run()  # warm: Prometheus maps its blocks
            results, _ = backtest(targets, client, START, end, [], [])
            aborted = sum(r.aborted for r in results) / sum(r.rollouts for r in results)
            best, median = timed(run, args.runs)
            ref_best, ref_median = timed(reference, args.runs)
    print(f"backtest of {args.services} services x {args.days} days of 1-minute data ({count} ticks each, "
          f"{sum(len(t.metrics) for t in targets)} metrics, mean false-abort rate {100 * aborted:.2f}%)")
    print(f"  backtest (fetch + judge):      best {best:.2f} s, median {median:.2f} s (target {TARGET:g} s)")
    print(f"  reference (sequential fetch):  best {ref_best:.2f} s, median {ref_median:.2f} s")
    print(f"  ratio backtest / reference:    {median / ref_median:.2f}")
    if median > TARGET:
        sys.exit(f"over target: {median:.2f} s > {TARGET:g} s")


if __name__ == "__main__":
    main()
