"""Benchmark: `rollouts lint` of one spec as a fresh process (the way pre-commit calls it), against yamllint on
the same file and a bare interpreter from the same venv, interleaved in one run. Prints medians and ratios.

Target (issue 13, with the click CLI): median of rollouts lint <= 1.0 x median of yamllint.

Both run as pre-commit installs a hook repository: a regular (non-editable) install, bytecode compiled. The
package is built and installed into a temporary directory (`pip install --no-deps --target`, which needs the
package registry for the build backend, as any install does), and both tools run from a temporary venv whose
path is that directory then this venv's site-packages, with console scripts like pip's. The venv's own editable
install would otherwise add setuptools' import finder (about 25 ms at every start-up) that no user's install has;
``--editable`` measures that development install instead.

    .venv/bin/python bench/lint_startup.py [--runs 41] [--editable] [SPEC]
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


SCRIPT = """#!{python}
import sys
from {module} import {function}
if __name__ == '__main__':
    sys.exit({function}())
"""


def installed(tmp: str) -> tuple[str, str, str]:
    """(python, yamllint, rollouts) of a temporary venv that sees a regular install of this package, then this
    venv's site-packages (not its .pth files, so not the editable finder)."""
    import compileall
    import site
    import sysconfig

    lib = os.path.join(tmp, "lib")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", lib, ROOT], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    compileall.compile_dir(lib, quiet=1)
    venv = os.path.join(tmp, "venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = os.path.join(venv, "bin", "python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    ours = [p for p in site.getsitepackages() if p.startswith(sys.prefix)] or [sysconfig.get_paths()["purelib"]]
    with open(os.path.join(purelib, "_bench.pth"), "w") as fh:
        fh.write("\n".join([lib, *ours]) + "\n")
    scripts = []
    for name, module, function in (("yamllint", "yamllint.cli", "run"), ("rollouts", "rollouts.cli", "main")):
        path = os.path.join(venv, "bin", name)
        with open(path, "w") as fh:
            fh.write(SCRIPT.format(python=python, module=module, function=function))
        os.chmod(path, 0o755)
        scripts.append(path)
    return python, scripts[0], scripts[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=41)
    parser.add_argument("--editable", action="store_true", help="time this venv's editable install instead")
    parser.add_argument("spec", nargs="?", default="services/checkout/rollouts.yaml")
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        if args.editable:
            import compileall

            compileall.compile_dir(os.path.join(ROOT, "generator"), quiet=1)
            python, yamllint, rollouts = sys.executable, os.path.join(BIN, "yamllint"), os.path.join(BIN, "rollouts")
        else:
            python, yamllint, rollouts = installed(tmp)
        return measure(args, python, yamllint, rollouts)


def measure(args: argparse.Namespace, python: str, yamllint: str, rollouts: str) -> int:
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "yamllint": [yamllint, args.spec],
        "rollouts lint": [rollouts, "lint", args.spec],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for cmd in commands.values():  # warm the page cache and the bytecode
        timed(cmd)
    for _ in range(args.runs):
        for name, cmd in commands.items():
            times[name].append(timed(cmd))
    medians = {name: statistics.median(values) for name, values in times.items()}
    install = "editable install (this venv)" if args.editable else "regular install, as pre-commit makes it"
    print(f"fresh-process median wall time over {args.runs} interleaved runs, spec {args.spec}, {install}")
    for name, median in medians.items():
        print(f"  {name:<16} {median * 1000:7.1f} ms   {median / medians['yamllint']:.2f} x yamllint")
    ratio = medians["rollouts lint"] / medians["yamllint"]
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"target rollouts lint <= {TARGET:.2f} x yamllint: {ratio:.2f} x, {verdict}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
