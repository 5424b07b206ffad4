"""``kustomize build`` of every directory with a kustomization under the tree, as kustomize-controller runs it.

kustomize's build time grows faster than linearly with the number of resources, and one process per directory
costs ~25 ms of start-up: 2,000 Flux paths of 7 files take 30 CPU-seconds however they are batched (v5.8.1). So a
*plain* kustomization (only ``resources:`` of local files and directories, nothing that transforms) is verified
in-process, with what kustomize v5.8.1 does to it (``api/internal/target/kusttarget.go`` accumulateResources,
``api/resource/factory.go`` RNodesFromBytes, ``kyaml/kio/byteio_reader.go``, ``resmap`` Append): every listed file
exists and is read as YAML documents split on kustomize's separator, each document that is not empty has a kind
and a metadata.name, and no resource id (group, version, kind, name, namespace) comes twice in the build. The check
is one-sided: it only ever *proves* a build succeeds, from a conservative subset (no anchors, aliases, tags or
merge keys, no ``List`` kinds, no two resources of one kind and name anywhere in the build); anything outside it
(a missing file, a document without a name, a possible duplicate, YAML yaml-rs refuses) is built by the real
kustomize, whose own error is the finding. Kustomizations with anything else (patches, generators, components,
remote resources) are always built by the real kustomize, in parallel; when one has only files and inline patches,
the ids of what it produces feed the in-process check of a plain kustomization that includes it (otherwise that
one is built for real too: generator hashes, vars and local-config drops happen in the top build only). A failure
is reported at the deepest kustomization that fails.

``flux/bootstrap/flux-system`` lists ``gotk-components.yaml`` and ``gotk-sync.yaml``, which only ``flux bootstrap``
writes: while they are absent, that directory is built in a scratch copy with stand-ins (``gotk-components.yaml``
empty, ``gotk-sync.yaml`` holding the GitRepository and Kustomization ``flux-system`` that bootstrap writes), and
an info finding says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .. import tools
from ..findings import Finding, Severity
from ..workdir import makedirs
from .manifests import KUSTOMIZATION_FILES, Locator, tree_files
from .promql import load_documents

INSTALL_HINT = ("Install it with `go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.1` (bash .ci/setup puts it in "
                ".venv/bin), or put it on PATH.")
HINT = "Fix the kustomization: every resource it lists must exist and build, and no object may appear twice."
API_VERSION = "kustomize.config.k8s.io/v1beta1"
BOOTSTRAP_FILES = ("gotk-components.yaml", "gotk-sync.yaml")
# what `flux bootstrap` writes to gotk-sync.yaml (flux2 pkg/manifestgen/sync), with placeholder values
GOTK_SYNC = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 1m0s
  ref: {branch: main}
  secretRef: {name: flux-system}
  url: ssh://git@example.invalid/stand-in.git
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 10m0s
  path: ./stand-in
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
"""
_PLAIN_KEYS = {"apiVersion", "kind", "resources"}
# kustomize reads kustomization.yaml as YAML 1.1 (sigs.k8s.io/yaml): an entry yaml-rs (1.2) reads as a string may
# be a bool, null or number there (`resources: [y]` is a type error); such entries go to the real kustomize
_YAML11 = re.compile(r"(?:[yYnN]|yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null"
                     r"|NULL|~|\.(?:inf|Inf|INF|nan|NaN|NAN)|[-+]?[0-9_.:eE+-]*[0-9][0-9_.:eE+-]*)")
_SEPARATOR = re.compile(r"\n---.*\n")  # kyaml splitDocuments
# node properties (anchor, alias, tag) and merge keys: where yaml.v3 (kustomize) and yaml-rs might read a document
# differently; a candidate counts where a node can start (see _node_start)
_MERGE = re.compile(r"<<[ \t]*:")
_BLOCK = re.compile(r"(?:^|[:-][ \t])[ \t]*[|>][-+0-9]*[ \t]*(?:#.*)?$")  # a line that opens a block scalar

Id = tuple[str, str]  # (kind, name): a resource id of kustomize is equal only if these are


def find_kustomize() -> str | None:
    return tools.find("kustomize")


def kustomization_file(directory: str) -> str | None:
    for name in KUSTOMIZATION_FILES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


@dataclass
class Node:
    """One kustomization directory: its file, what it lists, and whether it is plain (verifiable in-process)."""

    directory: str
    file: str
    children: list[str] = field(default_factory=list)  # directories it lists
    files: list[str] = field(default_factory=list)  # files it lists (existing or not)
    plain: bool = True
    # not plain, but what it builds has the ids its including kustomization sees: only files and inline patches
    # (no generators, whose name hashes, vars and local-config drops kustomize applies at the top build only)
    transparent: bool = False
    standins: list[str] = field(default_factory=list)  # bootstrap files it lists that are absent


def directories(tree: str, files: list[str] | None = None) -> dict[str, str]:
    """Directory -> its kustomization file, for every kustomization under the tree (``files``: the tree's files,
    when already listed)."""
    found = {}
    for path in tree_files(tree) if files is None else files:
        directory, name = os.path.split(path)
        if name in KUSTOMIZATION_FILES and directory not in found:
            file = kustomization_file(directory)
            if file:
                found[directory] = file
    return found


def _yaml(text: str) -> Any:
    import yaml_rs

    return yaml_rs.loads(text, parse_datetime=False, duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.Error)


def _load(directory: str, file: str) -> Node:
    node = Node(directory, file)
    try:
        with open(file, encoding="utf-8") as fh:
            text = fh.read()
        data = _yaml(text)
    except (OSError, UnicodeDecodeError, ValueError):
        text, data = "", None
    if not isinstance(data, dict):
        node.plain = False  # kustomize reports it
        return node
    header = (not _special(text) and data.get("apiVersion", API_VERSION) == API_VERSION
              and data.get("kind", "Kustomization") == "Kustomization"
              and isinstance(data.get("resources", []), list)
              and sum(os.path.isfile(os.path.join(directory, n)) for n in KUSTOMIZATION_FILES) == 1)
    node.plain = header and set(data) <= _PLAIN_KEYS
    patches = data.get("patches", [])
    node.transparent = (header and set(data) <= _PLAIN_KEYS | {"patches"} and "local-config" not in text
                        and isinstance(patches, list)
                        and all(isinstance(p, dict) and isinstance(p.get("patch"), str)
                                and set(p) <= {"patch", "target"} for p in patches))  # no files, no options
    for key in ("resources", "bases", "components"):
        entries = data.get(key)
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, str) or not entry or "://" in entry or os.path.isabs(entry) \
                    or _YAML11.fullmatch(entry):
                node.plain = node.transparent = False
                continue
            path = os.path.normpath(os.path.join(directory, entry))
            if os.path.isdir(path):
                node.children.append(path)
            elif key == "resources":
                node.files.append(path)
                if os.path.basename(directory) == "flux-system" and entry in BOOTSTRAP_FILES \
                        and not os.path.lexists(path):
                    node.standins.append(entry)
    if node.standins:
        node.plain = False
    if node.plain or node.children:
        node.transparent = False
    else:  # a file with a local-config object: kustomize drops it from this build, but not from the including one
        node.transparent = node.transparent and all("local-config" not in (_read(f) or b"local-config").decode(
            "utf-8", "replace") for f in node.files if f.rsplit("/", 1)[-1] not in node.standins)
    return node


def _node_start(text: str, i: int) -> bool:
    """Whether a node property or merge key at ``i`` may be one: at the start of a line (after indentation), after
    ``[``, ``{`` or ``,``, or after ``: `` or ``- ``."""
    prev = text[i - 1] if i else "\n"
    if prev in "[{,\n" or text.startswith("<<", i):
        return True
    if prev not in " \t":
        return False
    line = text[text.rfind("\n", 0, i) + 1:i]
    before = line.rstrip(" \t")
    return not before or before[-1] in "[{," or (len(before) < len(line) and before[-1] in ":-")


def _properties(text: str) -> bool:
    """Whether a node property (``&a``, ``*a``, ``!t``) or a merge key (``<<:``) may be in the text (str.find:
    ten times a regular expression's speed)."""
    for mark in "&*!<":
        i = text.find(mark)
        while i >= 0:
            if (_MERGE.match(text, i) if mark == "<" else i + 1 < len(text) and not text[i + 1].isspace()) \
                    and _node_start(text, i):
                return True
            i = text.find(mark, i + 1)
    return False


def _special(text: str) -> bool:
    """Whether a node property (anchor, alias, tag) or a merge key may occur outside a block scalar."""
    if not _properties(text):
        return False
    block = -1  # the indentation of the line that opened a block scalar; -1 outside one
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if block >= 0:
            if not stripped or indent > block:
                continue
            block = -1
        if _properties(line):
            return True
        if _BLOCK.search(line):
            block = indent
    return False


def file_documents(path: str) -> list[Any] | None:
    """The documents kustomize reads from a file, empty ones dropped, or None when it might not read them the same
    way (or not at all: then the real kustomize decides, and reports)."""
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    text = text.replace("\r\n", "\n")
    if text.startswith("\ufeff") or _special(text):
        return None
    pieces = []
    start = 0
    for m in _SEPARATOR.finditer(text):
        rest = m.group()[4:].strip()
        if rest and not rest.startswith("#"):
            return None  # kustomize: invalid document separator
        pieces.append(text[start:m.start()])
        start = m.end()
    pieces.append(text[start:])
    docs = []
    for piece in pieces:
        try:
            doc = _yaml(piece)
        except (ValueError, RecursionError):
            return None
        if doc is not None:  # an empty document
            docs.append(doc)
    return docs


def ids_of(docs: list[Any] | None) -> list[Id] | None:
    """The resource ids of documents, or None when one is not a resource the in-process check proves."""
    if docs is None:
        return None
    ids = [_doc_id(d) for d in docs]
    return None if any(i is None for i in ids) else [i for i in ids if i is not None]


def _doc_id(doc: Any) -> Id | None:
    if not isinstance(doc, dict):
        return None
    kind, api, meta = doc.get("kind"), doc.get("apiVersion"), doc.get("metadata")
    if not (isinstance(kind, str) and kind and not kind.endswith("List") and isinstance(api, str) and api
            and not api.startswith("kustomize.config.k8s.io/") and isinstance(meta, dict)):
        return None
    name, namespace = meta.get("name"), meta.get("namespace", "")
    if not (isinstance(name, str) and name and isinstance(namespace, str)):
        return None
    return (kind, name)


def output_ids(text: str) -> list[Id] | None:
    """The ids of what ``kustomize build`` printed (None if that cannot be read)."""
    try:
        return ids_of([d for d in load_documents(text) if d is not None])
    except ValueError:
        return None


def _run(kustomize: str, directory: str) -> tuple[str, str]:
    """(stdout, '') when ``kustomize build`` succeeds, else ('', its error text)."""
    proc = tools.run([kustomize, "build", "--load-restrictor", "LoadRestrictionsNone", directory])
    if proc.returncode == 0:
        return proc.stdout, ""
    return "", " ".join(proc.stderr.split()).removeprefix("Error: ") or f"kustomize exited {proc.returncode}"


def _build_with_standins(kustomize: str, node: Node, scratch: str) -> tuple[str, str]:
    """Build a flux-system directory in a scratch copy, with stand-ins for the files flux bootstrap writes."""
    copy = os.path.join(scratch, f"standin-{hashlib.sha256(node.directory.encode()).hexdigest()[:12]}",
                        "flux-system")
    shutil.copytree(node.directory, copy, symlinks=True)
    for name in node.standins:
        with open(os.path.join(copy, name), "w", encoding="utf-8") as fh:
            fh.write(GOTK_SYNC if name == "gotk-sync.yaml" else "")
    out, error = _run(kustomize, copy)
    return out, error.replace(copy, node.directory)


def _heights(nodes: dict[str, Node]) -> dict[str, int]:
    """Each directory's height (1 + the highest of the kustomization directories it lists; 0 for none). A
    directory in a cycle is made not plain: the real kustomize reports the cycle."""
    height: dict[str, int] = {}
    visiting: set[str] = set()

    def visit(d: str) -> int:
        if d in height:
            return height[d]
        if d in visiting:
            nodes[d].plain = False
            return 0
        visiting.add(d)
        height[d] = 1 + max((visit(c) for c in nodes[d].children if c in nodes), default=-1)
        visiting.discard(d)
        return height[d]

    for d in sorted(nodes):
        visit(d)
    return height


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _cache_key(kustomize: str, nodes: dict[str, Node], directory: str) -> str | None:
    """The key of a successful real build of a plain kustomization: the kustomize binary and the content of every
    file it builds from (None when that is not known: a directory that is not plain, or a missing file)."""
    try:
        st = os.stat(kustomize)
    except OSError:
        return None
    h = hashlib.sha256(f"{kustomize}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    todo, seen = [directory], set()
    while todo:
        d = todo.pop()
        if d in seen:
            continue
        seen.add(d)
        node = nodes.get(d)
        if node is None or not node.plain:
            return None
        for name in [node.file, *node.files]:
            data = _read(name)
            if data is None:
                return None
            h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        h.update(b"".join(c.encode() + b"\0" for c in node.children))
        todo.extend(node.children)
    return h.hexdigest()


class _Builds:
    """Real kustomize builds on a thread pool, remembered by content under ``cache_dir`` when they succeed."""

    def __init__(self, kustomize: str, nodes: dict[str, Node], pool: ThreadPoolExecutor, scratch: str,
                 cache_dir: str | None) -> None:
        self.kustomize, self.nodes, self.pool, self.scratch = kustomize, nodes, pool, scratch
        self.done = os.path.join(cache_dir, "kustomize") if cache_dir else ""

    def start(self, directory: str) -> Future[tuple[list[Id] | None, str]]:
        return self.pool.submit(self._build, directory)

    def _build(self, directory: str) -> tuple[list[Id] | None, str]:
        """(the ids it builds, '') on success (ids None when they cannot be read), else (None, the error)."""
        node = self.nodes[directory]
        key = _cache_key(self.kustomize, self.nodes, directory) if self.done else None
        if key:
            try:
                with open(os.path.join(self.done, key), encoding="utf-8") as fh:
                    return [(str(kind), str(name)) for kind, name in json.load(fh)], ""
            except (OSError, ValueError, TypeError):
                pass
        if node.standins:
            out, error = _build_with_standins(self.kustomize, node, self.scratch)
        else:
            out, error = _run(self.kustomize, directory)
        if error:
            return None, error
        ids = output_ids(out)
        if key and ids is not None:
            _remember(os.path.join(self.done, key), ids)
        return ids, ""


def _remember(path: str, ids: list[Id]) -> None:
    """Keep a successful build and its ids (best effort: a cache that cannot be written only costs time)."""
    try:
        makedirs(os.path.dirname(path))  # .rollouts/cache/kustomize (the CLI's default): .rollouts/ is git-ignored
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(ids, fh)
    except OSError:
        pass


def verify_plain(node: Node, child_ids: Callable[[str], list[Id] | None],
                 file_ids_of: Callable[[str], list[Id] | None]) -> list[Id] | None:
    """The ids a plain kustomization builds, proven in-process; None when not proven (the real kustomize then
    decides). ``child_ids``: the ids of a listed directory (None: not known to build)."""
    ids: list[Id] = []
    for path in node.files:
        got = file_ids_of(path)
        if got is None:
            return None
        ids += got
    for child in node.children:
        got = child_ids(child)
        if got is None:
            return None
        ids += got
    return ids if len(set(ids)) == len(ids) else None


def validate_builds(tree: str, locator: Locator, workers: int | None = None, cache_dir: str | None = None,
                    documents: dict[str, list[Any]] | None = None, files: list[str] | None = None) -> list[Finding]:
    """Findings for every kustomization that does not build. With ``cache_dir``, a real build of a plain
    kustomization whose inputs (every file, and the kustomize binary) match an earlier successful one is not run
    again. ``documents`` receives the documents of every file read in-process (path -> documents), for the
    PromQL check to reuse; ``files``: the tree's files, when already listed."""
    tree = os.path.abspath(tree)
    files = tree_files(tree) if files is None else files
    dirs = directories(tree, files)
    documents = {} if documents is None else documents
    kustomize = find_kustomize()
    if not dirs or kustomize is None:
        unchecked = [Finding("kustomize-unchecked", Severity.WARNING, locator.relative(tree), 0, 0,
                             f"kustomize is not installed: {len(dirs)} kustomization(s) were not built",
                             INSTALL_HINT)] if dirs else []
        return unchecked + flux_paths(tree, locator, set(dirs), documents, files)
    nodes = {d: _load(d, f) for d, f in dirs.items()}
    height = _heights(nodes)
    # kustomizations whose own build does not show the ids an including one merges: one that is neither plain nor
    # transparent, and every one that includes such a one (its name hashes, vars, local-config drops are undone)
    opaque: set[str] = set()
    for d in sorted(nodes, key=lambda d: height[d]):
        if not (nodes[d].plain or nodes[d].transparent) or any(c in opaque for c in nodes[d].children):
            opaque.add(d)
    findings = [_standin_finding(locator, n) for _, n in sorted(nodes.items()) if n.standins]
    ids: dict[str, list[Id] | None] = {}  # None: does not build, or not known to
    failing: dict[str, str] = {}  # real builds that failed
    broken: set[str] = set()  # those, and every kustomization that includes one
    memo: dict[str, list[Id] | None] = {}

    def of_file(path: str) -> list[Id] | None:
        if path not in memo:
            docs = file_documents(path)
            if docs is not None:
                documents[path] = docs
            memo[path] = ids_of(docs)
        return memo[path]

    with tempfile.TemporaryDirectory(prefix="rollouts-kustomize-") as scratch, \
            ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        builds = _Builds(kustomize, nodes, pool, scratch, cache_dir)
        # every kustomization that is not plain is built for real, while the plain ones are read
        started = {d: builds.start(d) for d in sorted(nodes) if not nodes[d].plain}
        for level in sorted(set(height.values())):
            here = sorted(d for d in nodes if height[d] == level)
            real: dict[str, Future[tuple[list[Id] | None, str]]] = {}
            for d in here:
                node = nodes[d]
                if d in started:
                    real[d] = started[d]
                elif any(c in broken for c in node.children):
                    ids[d] = None  # a kustomization it includes fails: that one is reported
                    broken.add(d)
                else:
                    got = verify_plain(node, lambda c: ids.get(c) if c in nodes and c not in opaque else None,
                                       of_file)
                    if got is None:
                        real[d] = builds.start(d)
                    ids[d] = got
            for d, future in real.items():
                got, error = future.result()
                ids[d] = got
                if error:
                    failing[d] = error
                    broken.add(d)
    for d, message in sorted(failing.items()):
        if any(c in failing for c in _under(nodes, d) if c != d):
            continue  # a kustomization it includes is the broken one
        findings.append(_finding(locator, nodes[d].file, f"kustomize build {locator.relative(d)} fails: {message}"))
    return findings + flux_paths(tree, locator, set(dirs), documents, files)


def flux_paths(tree: str, locator: Locator, kustomizations: set[str],
               documents: dict[str, list[Any]], files: list[str] | None = None) -> list[Finding]:
    """Every Flux Kustomization of the tree whose ``spec.path`` (from the repository root, ``locator.root``) is
    inside the tree applies a directory that exists and has a kustomization, so that the build above is the one
    kustomize-controller runs. ``documents``: files already read, by path."""
    findings = []
    for path in tree_files(tree) if files is None else files:
        docs = documents.get(path)
        if docs is None:
            try:
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
                docs = load_documents(text) if "kustomize.toolkit.fluxcd.io/" in text else []
            except (OSError, ValueError):
                continue  # kubeconform reports it
        for doc in docs:
            finding = _flux_path(tree, locator, kustomizations, path, doc)
            if finding:
                findings.append(finding)
    return findings


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _flux_path(tree: str, locator: Locator, kustomizations: set[str], file: str, doc: Any) -> Finding | None:
    if not (isinstance(doc, dict) and doc.get("kind") == "Kustomization"
            and str(doc.get("apiVersion", "")).startswith("kustomize.toolkit.fluxcd.io/")):
        return None
    spec = _mapping(doc.get("spec"))
    path = spec.get("path")
    if _mapping(spec.get("sourceRef")).get("kind") != "GitRepository" or not isinstance(path, str):
        return None
    target = os.path.normpath(os.path.join(os.path.abspath(locator.root), path.lstrip("/")))
    if target != tree and not target.startswith(tree + os.sep):
        return None  # another part of the repository, or another repository
    if os.path.isdir(target) and target in kustomizations:
        return None
    name = str(_mapping(doc.get("metadata")).get("name") or "")
    located = locator.find(file, "Kustomization", name, str(doc.get("apiVersion")))
    where = locator.relative(target)
    if not os.path.isdir(target):
        return locator.finding("flux-path-missing", file, located, "/spec/path",
                               f"Flux Kustomization {name} applies {where}, which is not in the tree: "
                               "kustomize-controller fails with 'kustomization path not found'",
                               "Render the directory, or point spec.path at one that exists.")
    return locator.finding("flux-path-unbuilt", file, located, "/spec/path",
                           f"Flux Kustomization {name} applies {where}, which has no kustomization.yaml: "
                           "kustomize-controller generates one from every manifest under it, which validate did not "
                           "build", "Give the directory a kustomization.yaml that lists its files.",
                           severity=Severity.WARNING)


def _under(nodes: dict[str, Node], root: str) -> list[str]:
    seen: list[str] = []
    todo = [root]
    while todo:
        d = todo.pop()
        if d not in seen and d in nodes:
            seen.append(d)
            todo.extend(nodes[d].children)
    return seen


def _standin_finding(locator: Locator, node: Node) -> Finding:
    names = " and ".join(node.standins)
    return Finding(
        "kustomize-bootstrap-files", Severity.INFO, locator.relative(node.file), 0, 0,
        f"{names} {'is' if len(node.standins) == 1 else 'are'} written by `flux bootstrap` and not in the tree yet: "
        f"{locator.relative(node.directory)} was built with stand-ins (gotk-components.yaml empty, gotk-sync.yaml "
        "the GitRepository and Kustomization flux-system that bootstrap writes); the Flux components themselves "
        "were not checked",
        "Nothing to fix before bootstrap: `flux bootstrap git --path <this folder's parent>` writes both files.")


def _finding(locator: Locator, file: str, message: str) -> Finding:
    return Finding("kustomize-build", Severity.ERROR, locator.relative(file), 0, 0, message, HINT)
