"""Render speed against an earlier commit: the same synthetic repository rendered by both, runs alternating.

    .venv/bin/python bench/render_against.py REV [--services 500] [--runs 7]

Prints the best and median wall time of a full ``rollouts render`` for each, and the ratios this checkout / REV
of both (on a shared 2-core machine the runs are bimodal; the median is the steadier figure). REV is checked out
in a temporary git worktree; both are imported from their folder as ``generator`` (relative imports inside it
since the package is installed as ``rollouts``; absolute before, which resolves the same way).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from synthetic import make_repo  # bench/ is on sys.path when run as a script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = ("import sys; sys.path.insert(0, sys.argv[1]); sys.argv = ['rollouts', 'render', '--root', sys.argv[2]]; "
       "from generator.cli import main; main()")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rev")
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rollouts-bench-") as tmp:
        old = os.path.join(tmp, "old")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "-q", "--detach", old, args.rev], check=True)
        try:
            repo = os.path.join(tmp, "repo")
            make_repo(repo, args.services)
            times: dict[str, list[float]] = {args.rev: [], "this checkout": []}
            for _ in range(args.runs):
                for name, tree in ((args.rev, old), ("this checkout", ROOT)):
                    shutil.rmtree(os.path.join(repo, "flux"), ignore_errors=True)
                    start = time.perf_counter()
                    proc = subprocess.run([sys.executable, "-c", RUN, tree, repo], capture_output=True, text=True,
                                          check=False)
                    times[name].append(time.perf_counter() - start)
                    if proc.returncode != 0:
                        sys.exit(f"{name}: render failed: {proc.stderr[-2000:]}")
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", old], check=False)
    for name, values in times.items():
        print(f"{name:>14}: best {min(values):.2f} s, median {statistics.median(values):.2f} s "
              f"({args.services} services x 2 environments, {args.runs} runs)")
    new, old = times["this checkout"], times[args.rev]
    print(f"ratio this checkout / {args.rev}: best {min(new) / min(old):.3f}, "
          f"median {statistics.median(new) / statistics.median(old):.3f}")


if __name__ == "__main__":
    main()
