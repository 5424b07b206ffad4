"""Benchmark ``rollouts validate`` on a 1,000-service render against bare kubeconform on the same files and schemas.

Generates N synthetic services (2 environments each) in a temporary repository, renders them with rollouts.render,
builds the acceptance catalog with ``schemas build`` (the shared flux-schema catalog plus the Linkerd policy CRDs,
from $ROLLOUTS_SHARED or ../shared), then times, in one run and alternating:

* bare kubeconform: the exact command line the wrapper runs (``rollouts.validate.kubeconform.command``);
* ``rollouts validate --no-promql --no-kustomize``: a fresh process, so Python start-up, imports, the catalog
  lookup, the JSON parsing and the findings are all inside the figure (the like-for-like kubeconform part);
* the PromQL and kustomize parts on their own, and the full ``rollouts validate`` (kubeconform runs while PromQL
  and kustomize are checked), cold (``--no-cache``) and with the kustomize cache warm on the unchanged tree.

Every figure is printed as a ratio to bare kubeconform (medians, wall and CPU time): the kubeconform part, target
<= 1.15; the full ``validate --no-cache``, target <= 2. The full run alternates with bare kubeconform too, so that
drift on a shared machine hits both alike.

    .venv/bin/python bench/validate.py [--services 1000] [--runs 5]
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
from collections.abc import Callable

from synthetic import make_repo  # bench/ is on sys.path when run as a script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
BIN = os.path.dirname(sys.executable)

SKIP = ("cert-manager.io/v1/Issuer", "cert-manager.io/v1/ClusterIssuer", "cert-manager.io/v1/Certificate",
        "trust.cert-manager.io/v1alpha1/Bundle")

def shared_dir() -> str:
    path = os.environ.get("ROLLOUTS_SHARED") or os.path.join(os.path.dirname(ROOT), "shared")
    if not os.path.isdir(path):
        sys.exit(f"shared test data not found at {path} (set ROLLOUTS_SHARED): the benchmark needs its CRD schemas")
    return path


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child processes, grandchildren included) of one call."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from rollouts.catalog import kubeconform_template
    from rollouts.catalog.build import build
    from rollouts.project import load_project
    from rollouts.render import render, write_tree
    from rollouts.validate import kubeconform
    from rollouts.validate.kustomize import validate_builds
    from rollouts.validate.manifests import Locator
    from rollouts.validate.promql import validate_queries

    binary = kubeconform.find_kubeconform()
    if binary is None:
        sys.exit(f"kubeconform is not installed. {kubeconform.INSTALL_HINT}")
    shared = shared_dir()
    tmp = tempfile.mkdtemp(prefix="rollouts-bench-validate-")
    try:
        make_repo(tmp, args.services)
        project = load_project(tmp)
        start = time.perf_counter()
        result = render(project)
        if not result.ok:
            sys.exit(f"render failed: {result.findings[:3]}")
        write_tree(project, result)
        render_s = time.perf_counter() - start
        tree = os.path.join(tmp, "flux")
        files = sum(len(f) for _, _, f in os.walk(tree))
        docs = sum(1 + text.count("\n---\n") for text in result.files.values() if text.strip())
        catalog = os.path.join(tmp, ".rollouts", "schemas")
        build(catalog, None, [os.path.join(shared, "crds", "linkerd")],
              [os.path.join(shared, "schemas", "flux-schema-catalog")])

        bare_argv = kubeconform.command(binary, tree, kubeconform_template(catalog), SKIP)
        rollouts = os.path.join(BIN, "rollouts")
        skips = [a for k in SKIP for a in ("--skip", k)]
        wrapper_argv = [rollouts, "validate", "--no-promql", "--no-kustomize", "--schemas", catalog, *skips]
        full_argv = [rollouts, "validate", "--no-cache", "--schemas", catalog, *skips]
        warm_argv = [rollouts, "validate", "--schemas", catalog, *skips]
        env = {**os.environ, "NO_COLOR": "1"}

        def bare() -> None:
            proc = subprocess.run(bare_argv, capture_output=True, check=False)
            if proc.returncode != 0:
                sys.exit(f"bare kubeconform failed: {proc.stdout[:2000]!r}")

        def wrapper(argv: list[str]) -> Callable[[], None]:
            def go() -> None:
                proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp, env=env, check=False)
                if proc.returncode != 0:
                    sys.exit(f"{' '.join(argv[1:3])} failed:\n{proc.stdout[:2000]}{proc.stderr[:2000]}")
            return go

        bare()  # warm the page cache for both
        bare_times, wrapper_times, bare_cpu, wrapper_cpu = [], [], [], []
        for _ in range(args.runs):  # alternate, so drift on a shared machine hits both alike
            wall, cpu = timed(bare)
            bare_times.append(wall)
            bare_cpu.append(cpu)
            wall, cpu = timed(wrapper(wrapper_argv))
            wrapper_times.append(wall)
            wrapper_cpu.append(cpu)
        bare_s, wrapper_s = statistics.median(bare_times), statistics.median(wrapper_times)
        bare_c, wrapper_c = statistics.median(bare_cpu), statistics.median(wrapper_cpu)
        full_times, full_cpu, full_bare = [], [], []
        for _ in range(args.runs):
            wall, cpu = timed(bare)
            full_bare.append((wall, cpu))
            wall, cpu = timed(wrapper(full_argv))
            full_times.append(wall)
            full_cpu.append(cpu)
        full_s, full_c = statistics.median(full_times), statistics.median(full_cpu)
        pair_s = statistics.median(w for w, _ in full_bare)
        pair_c = statistics.median(c for _, c in full_bare)
        locator = Locator(tmp)
        promql_s = median_time(lambda: validate_queries(tree, locator), max(1, args.runs // 2))
        kustomize_s = median_time(lambda: validate_builds(tree, locator), max(1, args.runs // 2))
        wrapper(warm_argv)()  # fills the kustomize cache
        warm_s = median_time(wrapper(warm_argv), max(1, args.runs // 2))

        print(f"validate benchmark: {args.services} services x 2 environments, {files} files, {docs} documents, "
              f"{os.cpu_count()} cores (render {render_s:.2f} s, not timed below)")
        print(f"  bare kubeconform (-strict -output json -summary -n {os.cpu_count()}, same schemas): "
              f"{bare_s:.3f} s (median of {args.runs}: {', '.join(f'{t:.2f}' for t in bare_times)})")
        print(f"  rollouts validate --no-promql --no-kustomize (fresh process): {wrapper_s:.3f} s "
              f"(median of {args.runs}: {', '.join(f'{t:.2f}' for t in wrapper_times)})")
        print(f"  ratio (kubeconform part, like for like): {wrapper_s / bare_s:.3f} x bare kubeconform wall time "
              f"(target <= 1.15); CPU time {wrapper_c:.2f} s / {bare_c:.2f} s = {wrapper_c / bare_c:.3f} x")
        print(f"  PromQL part alone (collect + one promtool check rules): {promql_s:.3f} s "
              f"= {promql_s / bare_s:.2f} x bare kubeconform")
        print(f"  kustomize part alone (plain kustomizations proven in-process, the rest built by kustomize): "
              f"{kustomize_s:.3f} s = {kustomize_s / bare_s:.2f} x bare kubeconform")
        print(f"  full rollouts validate --no-cache (kubeconform concurrent with PromQL and kustomize): {full_s:.3f} s "
              f"(median of {args.runs}: {', '.join(f'{t:.2f}' for t in full_times)}; bare kubeconform alternated "
              f"with it: {pair_s:.3f} s)")
        print(f"  ratio (full validate --no-cache): {full_s / pair_s:.3f} x bare kubeconform wall time (target <= 2); "
              f"CPU time {full_c:.2f} s / {pair_c:.2f} s = {full_c / pair_c:.3f} x")
        print(f"  full rollouts validate, unchanged tree, kustomize cache warm (it holds only real builds the "
              f"in-process check deferred): {warm_s:.3f} s "
              f"= {warm_s / pair_s:.2f} x bare kubeconform")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
