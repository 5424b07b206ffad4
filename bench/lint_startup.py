"""Benchmark: `rollouts lint` of one spec as a fresh process (the way pre-commit calls it), against yamllint on
the same file and a bare interpreter from the same venv, interleaved in one run. Prints medians and ratios.

Target (issue 13, with the click CLI): median of rollouts lint <= 1.0 x median of yamllint.

The package's bytecode is compiled first (compileall), as ``pip install`` does for yamllint and for the copy
pre-commit installs: with PYTHONDONTWRITEBYTECODE set and an editable install, every run would otherwise
recompile each module from source and the figure would measure the compiler, not the linter.

    .venv/bin/python bench/lint_startup.py [--runs 41] [SPEC]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
TARGET = 1.0


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{cmd[0]} exited {done.returncode}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=41)
    parser.add_argument("spec", nargs="?", default="services/checkout/rollouts.yaml")
    args = parser.parse_args()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "yamllint": [os.path.join(BIN, "yamllint"), args.spec],
        "rollouts lint": [os.path.join(BIN, "rollouts"), "lint", args.spec],
    }
    import compileall

    compileall.compile_dir(os.path.join(ROOT, "generator"), quiet=1)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for cmd in commands.values():  # warm the page cache and the bytecode
        timed(cmd)
    for _ in range(args.runs):
        for name, cmd in commands.items():
            times[name].append(timed(cmd))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"fresh-process median wall time over {args.runs} interleaved runs, spec {args.spec}")
    for name, median in medians.items():
        print(f"  {name:<16} {median * 1000:7.1f} ms   {median / medians['yamllint']:.2f} x yamllint")
    ratio = medians["rollouts lint"] / medians["yamllint"]
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"target rollouts lint <= {TARGET:.2f} x yamllint: {ratio:.2f} x, {verdict}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
