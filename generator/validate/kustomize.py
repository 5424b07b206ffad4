"""``kustomize build`` of every directory with a kustomization under the tree, as kustomize-controller runs it.

A kustomization that another one includes is built as part of it, so only the roots are built (in parallel); when
a root fails, the kustomizations under it are built one by one and the deepest failing ones are reported, so the
Finding names the directory that is actually broken.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from generator.findings import Finding, Severity
from generator.validate.manifests import KUSTOMIZATION_FILES, Locator

INSTALL_HINT = ("Install it with `go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.1` (bash .ci/setup puts it in "
                ".venv/bin), or put it on PATH.")


def find_kustomize() -> str | None:
    candidate = os.path.join(os.path.dirname(sys.executable), "kustomize")
    if os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("kustomize")


def kustomization_file(directory: str) -> str | None:
    for name in KUSTOMIZATION_FILES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def directories(tree: str) -> dict[str, str]:
    """Directory -> its kustomization file, for every kustomization under the tree."""
    found = {}
    for dirpath, dirnames, _ in os.walk(tree):
        dirnames.sort()
        file = kustomization_file(dirpath)
        if file:
            found[os.path.abspath(dirpath)] = file
    return found


def _children(directory: str, file: str) -> list[str]:
    import yaml

    try:
        with open(file, encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    if not isinstance(data, dict):
        return []
    out = []
    for key in ("resources", "bases", "components"):
        for entry in data.get(key) or []:
            if isinstance(entry, str) and "://" not in entry:
                path = os.path.normpath(os.path.join(directory, entry))
                if os.path.isdir(path):
                    out.append(path)
    return out


def build(kustomize: str, directory: str) -> str:
    """'' when ``kustomize build`` succeeds, else its error text."""
    proc = subprocess.run([kustomize, "build", "--load-restrictor", "LoadRestrictionsNone", directory],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False, timeout=600)
    if proc.returncode == 0:
        return ""
    return " ".join(proc.stderr.split()).removeprefix("Error: ") or f"kustomize exited {proc.returncode}"


def validate_builds(tree: str, locator: Locator, workers: int | None = None) -> list[Finding]:
    dirs = directories(tree)
    if not dirs:
        return []
    kustomize = find_kustomize()
    if kustomize is None:
        return [Finding("kustomize-unchecked", Severity.WARNING, locator.relative(tree), 0, 0,
                        f"kustomize is not installed: {len(dirs)} kustomization(s) were not built", INSTALL_HINT)]
    children = {d: [c for c in _children(d, f) if c in dirs] for d, f in dirs.items()}
    included = {c for cs in children.values() for c in cs}
    roots = sorted(d for d in dirs if d not in included)
    workers = workers or os.cpu_count() or 1

    def under(root: str) -> list[str]:
        seen, todo = [], [root]
        while todo:
            d = todo.pop()
            if d not in seen:
                seen.append(d)
                todo.extend(children.get(d, []))
        return seen

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = dict(zip(roots, pool.map(lambda d: build(kustomize, d), roots), strict=True))
        failing = {d: e for d, e in results.items() if e}
        extra = sorted({d for root in failing for d in under(root)} - set(failing))
        failing.update({d: e for d, e in zip(extra, pool.map(lambda d: build(kustomize, d), extra), strict=True)
                        if e})
    findings = []
    for d, message in sorted(failing.items()):
        if any(c in failing for c in under(d) if c != d):
            continue  # a kustomization it includes is the broken one
        findings.append(Finding("kustomize-build", Severity.ERROR, locator.relative(dirs[d]), 0, 0,
                                f"kustomize build {locator.relative(d)} fails: {message}",
                                "Fix the kustomization: every resource it lists must exist and build."))
    return findings
