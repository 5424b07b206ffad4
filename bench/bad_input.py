"""Benchmark: hostile and huge specs through a fresh `rollouts lint` process, as ratios against linting a small
valid spec in the same run (the tests bound only memory; time is measured here, never in a test).

Targets: the alias bomb and the 50 MB file are refused at most 2 x the small spec's time (they must be refused
before they are parsed); a spec just under the 128 KiB limit lints in linear time (128 KiB / 64 KiB at most 2.5 x).

    .venv/bin/python bench/bad_input.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.path.dirname(sys.executable)
HEADER = "apiVersion: rollouts/v1alpha1\nkind: ServiceRollout\n"
SMALL = (HEADER + "metadata: {name: web, namespace: shop, owner: team-web}\n"
         "spec:\n  workload: {steadyTraffic: true}\n  strategy: {type: canary, steps: [10, 50]}\n")
BOMB = "\n".join(['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
                 + [f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
                 ) + "\n"


def with_values(size: int) -> str:
    """A valid spec of about ``size`` bytes: chart values, one key per line."""
    head = SMALL.replace("  workload: {steadyTraffic: true}\n", "  workload:\n    steadyTraffic: true\n    values:\n")
    lines, total, i = [], len(head), 0
    while total < size:
        lines.append(f"      key{i}: value-{i}\n")
        total += len(lines[-1])
        i += 1
    return head.replace("    values:\n", "    values:\n" + "".join(lines))


def timed(directory: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([os.path.join(BIN, "rollouts"), "lint", "rollouts.yaml"], cwd=directory,
                          capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"rollouts lint exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    padding = "# " + "padding " * 9 + "\n"
    cases = {
        "small spec": SMALL,
        "alias bomb": BOMB,
        "50 MB file": SMALL + padding * (50 * 1024 * 1024 // len(padding)),
        "64 KiB spec": with_values(63 * 1024),
        "128 KiB spec": with_values(127 * 1024),
    }
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {}
        for name, text in cases.items():
            dirs[name] = os.path.join(tmp, name.replace(" ", "-"))
            os.mkdir(dirs[name])
            with open(os.path.join(dirs[name], "rollouts.yaml"), "w") as fh:
                fh.write(text)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, directory in dirs.items():
                times[name].append(timed(directory))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"fresh-process median wall time over {args.runs} interleaved runs")
    for name, median in medians.items():
        print(f"  {name:<14} {median * 1000:8.1f} ms   {median / medians['small spec']:.2f} x small spec")
    checks = [("alias bomb <= 2 x small spec", medians["alias bomb"] / medians["small spec"], 2.0),
              ("50 MB file <= 2 x small spec", medians["50 MB file"] / medians["small spec"], 2.0),
              ("128 KiB / 64 KiB <= 2.5 (linear)", medians["128 KiB spec"] / medians["64 KiB spec"], 2.5)]
    ok = True
    for label, ratio, limit in checks:
        ok &= ratio <= limit
        print(f"target {label}: {ratio:.2f}, {'met' if ratio <= limit else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
