"""Benchmark: `rollouts sign --key` plus `rollouts verify --key` over a 1,000-service render (offline).

Prints the median wall time of sign+verify (in process, as the CLI runs them), the hashing throughput beside it, and
two references measured in the same run over the same files: read+sha256 alone in Python (one thread), and
`sha256sum` over every file. Target: sign + verify <= 1 s on 2 cores.

The tree is a real render of 1,000 synthetic services x 2 environments (bench/synthetic.py).

    .venv/bin/python bench/sign.py [--services 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from synthetic import render_repo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from rollouts.keys import load_public_key, write_key_pair
    from rollouts.sign import digest_tree, sign_tree
    from rollouts.verify import Policy, verify_tree

    work = tempfile.mkdtemp(prefix="rollouts-bench-sign-")
    try:
        os.environ["COSIGN_PASSWORD"] = "bench-only"
        tree = render_repo(work, args.services)
        key, pub = write_key_pair(os.path.join(work, "bench"), b"bench-only")
        digests, _, total = digest_tree(tree)
        files = len(digests)
        mb = total / 1e6

        sign_times, verify_times, both, cpu = [], [], [], []
        for _ in range(args.runs):
            c0 = time.process_time()
            t0 = time.perf_counter()
            sign_tree(tree, work, key_path=key)
            t1 = time.perf_counter()
            result = verify_tree(tree, Policy(public_key=load_public_key(pub)), work)
            t2 = time.perf_counter()
            cpu.append(time.process_time() - c0)
            assert result.findings == [], result.findings[:3]
            sign_times.append(t1 - t0)
            verify_times.append(t2 - t1)
            both.append(t2 - t0)

        from rollouts.keys import load_private_key

        loaded = load_private_key(key, b"bench-only")
        warm = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            sign_tree(tree, work, private_key=loaded)
            verify_tree(tree, Policy(public_key=loaded.public_key()), work)
            warm.append(time.perf_counter() - t0)

        paths = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(tree) for f in fs)
        ref_py, ref_py_cpu = [], []
        for _ in range(args.runs):
            c0 = time.process_time()
            t0 = time.perf_counter()
            for p in paths:
                with open(p, "rb") as fh:
                    hashlib.sha256(fh.read()).hexdigest()
            ref_py.append(time.perf_counter() - t0)
            ref_py_cpu.append(time.process_time() - c0)
        ref_sum: list[float] = []
        if shutil.which("sha256sum"):
            for _ in range(args.runs):
                t0 = time.perf_counter()
                subprocess.run(["xargs", "-0", "sha256sum"], input=b"\0".join(p.encode() for p in paths),
                               stdout=subprocess.DEVNULL, check=True)
                ref_sum.append(time.perf_counter() - t0)

        med = statistics.median
        load = os.getloadavg()[0]
        print(f"tree: render, {args.services} services, {files} files, {mb:.1f} MB; {os.cpu_count()} CPUs, "
              f"load average {load:.1f} (a shared machine inflates wall times; CPU times are steadier); "
              f"median of {args.runs} runs")
        print(f"sign + verify (key, offline): {med(both) * 1000:8.1f} ms   "
              f"(sign {med(sign_times) * 1000:.1f} ms incl. scrypt key decryption, "
              f"verify {med(verify_times) * 1000:.1f} ms)"
              f"   hashing throughput {2 * mb / med(both):.0f} MB/s (two passes)")
        print(f"sign + verify, key already decrypted (as rollouts commit reuses it): {med(warm) * 1000:8.1f} ms")
        print(f"sign + verify CPU time (both threads):  {med(cpu) * 1000:8.1f} ms   "
              f"ratio to 2 x read+sha256 CPU: {med(cpu) / (2 * med(ref_py_cpu)):.2f}")
        print(f"reference: read+sha256, Python, 1 thread: {med(ref_py) * 1000:8.1f} ms per pass   "
              f"{mb / med(ref_py):.0f} MB/s   (CPU {med(ref_py_cpu) * 1000:.1f} ms)")
        if ref_sum:
            print(f"reference: sha256sum (xargs):           {med(ref_sum) * 1000:8.1f} ms per pass   "
                  f"{mb / med(ref_sum):.0f} MB/s")
        print(f"ratio sign+verify / (2 x sha256sum pass): {med(both) / (2 * med(ref_sum)):.2f}" if ref_sum else "")
        print(f"target <= 1000 ms: {'met' if med(both) <= 1.0 else 'NOT met'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
