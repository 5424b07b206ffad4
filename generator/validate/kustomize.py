"""``kustomize build`` of every directory with a kustomization under the tree, as kustomize-controller runs it.

A kustomization that another one includes is built as part of it, so builds start at the roots. kustomize's
build time grows with the square of the number of resources (measured with v5.8.1 on 2 cores: 100 files 0.08 s,
400 files 0.7 s, 725 files 3.5 s), so a plain aggregate (a kustomization that only lists resources, no
transformers) holding more than :data:`WHOLE` resources is not built in one piece: its entries are checked to
exist and are built in groups of about :data:`GROUP` resources through a temporary kustomization that lists them
(the same content, so an id conflict inside a group still fails). A failing group is rebuilt entry by entry, so
the Finding names the directory that is broken.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from generator.findings import Finding, Severity
from generator.validate.manifests import KUSTOMIZATION_FILES, Locator

INSTALL_HINT = ("Install it with `go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.1` (bash .ci/setup puts it in "
                ".venv/bin), or put it on PATH.")
HINT = "Fix the kustomization: every resource it lists must exist and build, and no object may appear twice."
WHOLE = 400
GROUP = 100
_PLAIN_KEYS = {"apiVersion", "kind", "resources"}


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


@dataclass
class Node:
    """One kustomization directory: its file, what it lists, and how many resource files its subtree holds."""

    directory: str
    file: str
    data: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)  # kustomization directories it lists
    files: list[str] = field(default_factory=list)  # resource files it lists
    plain: bool = True  # only apiVersion/kind/resources: splitting it changes nothing
    size: int = 0


def directories(tree: str) -> dict[str, str]:
    """Directory -> its kustomization file, for every kustomization under the tree."""
    found = {}
    for dirpath, dirnames, _ in os.walk(tree):
        dirnames.sort()
        file = kustomization_file(dirpath)
        if file:
            found[os.path.abspath(dirpath)] = file
    return found


def _load(directory: str, file: str) -> Node:
    import yaml

    node = Node(directory, file)
    try:
        with open(file, encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None
    if not isinstance(data, dict):
        node.plain = False  # kustomize reports it
        return node
    node.data = data
    node.plain = set(data) <= _PLAIN_KEYS and isinstance(data.get("resources", []), list)
    for entry in data.get("resources") or []:
        if not isinstance(entry, str) or "://" in entry:
            node.plain = False
            continue
        path = os.path.normpath(os.path.join(directory, entry))
        if os.path.isdir(path):
            node.children.append(path)
        else:
            node.files.append(path)
    for key in ("bases", "components"):
        for entry in data.get(key) or []:
            if isinstance(entry, str) and os.path.isdir(os.path.normpath(os.path.join(directory, entry))):
                node.children.append(os.path.normpath(os.path.join(directory, entry)))
    return node


def _run(kustomize: str, directory: str) -> str:
    """'' when ``kustomize build`` succeeds, else its error text."""
    proc = subprocess.run([kustomize, "build", "--load-restrictor", "LoadRestrictionsNone", directory],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False, timeout=900)
    if proc.returncode == 0:
        return ""
    return " ".join(proc.stderr.split()).removeprefix("Error: ") or f"kustomize exited {proc.returncode}"


class _Builder:
    def __init__(self, kustomize: str, nodes: dict[str, Node], scratch: str) -> None:
        self.kustomize = kustomize
        self.nodes = nodes
        self.scratch = scratch
        self.count = itertools.count(1)  # next() is atomic: builds run on a thread pool

    def build(self, entries: tuple[str, ...], parent: str) -> str:
        """Build one kustomization directory, or several entries of ``parent`` together through a scratch one."""
        if len(entries) == 1 and entries[0] in self.nodes:
            return _run(self.kustomize, entries[0])
        group = os.path.join(self.scratch, f"group-{next(self.count)}")
        os.makedirs(group)
        with open(os.path.join(group, "kustomization.yaml"), "w", encoding="utf-8") as fh:
            fh.write("resources:\n" + "".join(f"  - {os.path.relpath(e, group)}\n" for e in entries))
        return _run(self.kustomize, group).replace(group, parent)


def _size(nodes: dict[str, Node], directory: str, seen: set[str]) -> int:
    node = nodes[directory]
    if directory in seen:
        return node.size
    seen.add(directory)
    node.size = len(node.files) + sum(_size(nodes, c, seen) for c in node.children if c in nodes)
    return node.size


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _digest(nodes: dict[str, Node], entry: str, memo: dict[str, str | None]) -> str | None:
    """sha256 of everything a plain kustomization (or a file) builds from; None when that is not known."""
    if entry in memo:
        return memo[entry]
    memo[entry] = None  # a cycle is not cacheable
    h = hashlib.sha256(entry.encode() + b"\0")
    parts: list[bytes | None]
    if entry in nodes:
        node = nodes[entry]
        if not node.plain:
            return None
        parts = [_read(node.file), *(_read(f) for f in node.files)]
        parts += [(d or "").encode() or None for d in (_digest(nodes, c, memo) for c in node.children)]
        names = [node.file, *node.files, *node.children]
    else:
        parts, names = [_read(entry)], [entry]
    for name, data in zip(names, parts, strict=True):
        if data is None:
            return None
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    memo[entry] = h.hexdigest()
    return memo[entry]


def _cache_key(kustomize: str, nodes: dict[str, Node], entries: tuple[str, ...],
               memo: dict[str, str | None]) -> str | None:
    """The key of a successful build of ``entries``: the kustomize binary and the content of everything built."""
    try:
        st = os.stat(kustomize)
    except OSError:
        return None
    h = hashlib.sha256(f"{kustomize}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    for entry in entries:
        digest = _digest(nodes, entry, memo)
        if digest is None:
            return None
        h.update(digest.encode())
    return h.hexdigest()


def validate_builds(tree: str, locator: Locator, workers: int | None = None,
                    cache_dir: str | None = None) -> list[Finding]:
    """Findings for every kustomization that does not build. With ``cache_dir``, a build whose inputs (every file
    of a plain kustomization, and the kustomize binary) match an earlier successful build is not run again."""
    dirs = directories(tree)
    if not dirs:
        return []
    kustomize = find_kustomize()
    if kustomize is None:
        return [Finding("kustomize-unchecked", Severity.WARNING, locator.relative(tree), 0, 0,
                        f"kustomize is not installed: {len(dirs)} kustomization(s) were not built", INSTALL_HINT)]
    nodes = {d: _load(d, f) for d, f in dirs.items()}
    seen: set[str] = set()
    for d in sorted(nodes):
        _size(nodes, d, seen)
    included = {c for n in nodes.values() for c in n.children}
    roots = sorted(d for d in nodes if d not in included)

    findings: list[Finding] = []
    # (entries built together, the kustomization they come from)
    jobs: list[tuple[tuple[str, ...], str]] = []

    def plan(directory: str) -> None:
        node = nodes[directory]
        if node.size <= WHOLE or not node.plain:
            jobs.append(((directory,), directory))
            return
        for path in node.files:  # a split aggregate: check what it lists exists, as kustomize would
            if not os.path.exists(path):
                findings.append(_finding(locator, node.file, f"{locator.relative(path)} does not exist"))
        group: list[str] = []
        size = 0
        for child in node.children:
            if child not in nodes:
                findings.append(_finding(locator, node.file,
                                         f"{locator.relative(child)} has no kustomization.yaml"))
            elif nodes[child].size > GROUP:
                plan(child)
            else:
                group.append(child)
                size += nodes[child].size
                if size >= GROUP:
                    jobs.append((tuple(group), directory))
                    group, size = [], 0
        files = [p for p in node.files if os.path.exists(p)]
        for i in range(0, len(files), GROUP):
            jobs.append((tuple(files[i:i + GROUP]), directory))
        if group:
            jobs.append((tuple(group), directory))

    for root in roots:
        plan(root)

    workers = workers or os.cpu_count() or 1
    memo: dict[str, str | None] = {}
    keys = [_cache_key(kustomize, nodes, entries, memo) if cache_dir else None for entries, _ in jobs]
    done_dir = os.path.join(cache_dir, "kustomize") if cache_dir else ""
    if cache_dir:
        cached = {k for k in keys if k and os.path.exists(os.path.join(done_dir, k))}
        jobs, keys = [j for j, k in zip(jobs, keys, strict=True) if k not in cached], \
            [k for k in keys if k not in cached]
    failing: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="rollouts-kustomize-") as scratch, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        builder = _Builder(kustomize, nodes, scratch)
        results = list(pool.map(lambda job: builder.build(*job), jobs))
        if cache_dir:
            _remember(done_dir, [k for k, message in zip(keys, results, strict=True) if k and not message])
        descend: list[str] = []
        for (entries, parent), message in zip(jobs, results, strict=True):
            if not message:
                continue
            if len(entries) == 1 and entries[0] in nodes:
                failing[entries[0]] = message
                descend.append(entries[0])
            else:  # a group of a split aggregate: rebuild its directories one by one
                failing.setdefault(parent, message)
                descend += [e for e in entries if e in nodes]
        # the kustomizations under a failing one, built alone, name the broken directory
        below = sorted({d for top in descend for d in _under(nodes, top)} - set(failing))
        failing.update({d: m for d, m in zip(below, pool.map(lambda d: _run(kustomize, d), below), strict=True)
                        if m})
    for d, message in sorted(failing.items()):
        if any(c in failing for c in _under(nodes, d) if c != d):
            continue  # a kustomization it includes is the broken one
        findings.append(_finding(locator, nodes[d].file, f"kustomize build {locator.relative(d)} fails: {message}"))
    return findings


def _remember(done_dir: str, keys: list[str]) -> None:
    """Mark builds as successful (best effort: a cache that cannot be written only costs time)."""
    try:
        os.makedirs(done_dir, exist_ok=True)
        for key in keys:
            with open(os.path.join(done_dir, key), "wb"):
                pass
    except OSError:
        pass


def _under(nodes: dict[str, Node], root: str) -> list[str]:
    seen: list[str] = []
    todo = [root]
    while todo:
        d = todo.pop()
        if d not in seen and d in nodes:
            seen.append(d)
            todo.extend(nodes[d].children)
    return seen


def _finding(locator: Locator, file: str, message: str) -> Finding:
    return Finding("kustomize-build", Severity.ERROR, locator.relative(file), 0, 0, message, HINT)
