"""Rendered manifests as validate sees them: which object a problem is in, where, and where it came from.

Files are parsed only when a problem names them (a clean tree costs nothing here). Positions come from PyYAML's
composer (libyaml when available); ``origins`` from the render map an object's JSON pointer to the line of
``rollouts.yaml`` that produced it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..findings import Finding, Severity

Origin = tuple[str, int, int]
Origins = Mapping[str, Mapping[str, Origin]]
OriginsArg = Origins | Callable[[], Origins] | None

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def tree_files(tree: str) -> list[str]:
    """Every file under ``tree`` (absolute paths; a directory's own files, sorted, before its subdirectories',
    in sorted order): the one walk of the tree that every check of a validate run shares."""
    out = []
    for dirpath, dirnames, filenames in os.walk(os.path.abspath(tree)):
        dirnames.sort()
        out += [os.path.join(dirpath, name) for name in sorted(filenames)]
    return out


def resource_key(kind: str, namespace: str, name: str) -> str:
    """The key of ``RenderResult.origins``: ``Kind/namespace/name`` (namespace '' when cluster-scoped)."""
    return f"{kind}/{namespace}/{name}"


def resource_label(kind: str, namespace: str, name: str) -> str:
    """How a Finding names an object: ``Kind namespace/name``."""
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def pointer_escape(step: str | int) -> str:
    return str(step).replace("~", "~0").replace("/", "~1")


def pointer_steps(pointer: str) -> list[str]:
    if not pointer:
        return []
    return [s.replace("~1", "/").replace("~0", "~") for s in pointer.lstrip("/").split("/")]


class Document:
    """One YAML document of a rendered file: its node tree (with positions) and identity."""

    def __init__(self, node: Any) -> None:
        self.node = node

    def scalar(self, *path: str) -> str:
        node = self.node
        for step in path:
            node = _child(node, step)
            if node is None:
                return ""
        value = getattr(node, "value", "")
        return value if isinstance(value, str) else ""

    @property
    def kind(self) -> str:
        return self.scalar("kind")

    @property
    def name(self) -> str:
        return self.scalar("metadata", "name")

    @property
    def namespace(self) -> str:
        return self.scalar("metadata", "namespace")

    @property
    def api_version(self) -> str:
        return self.scalar("apiVersion")

    def scalar_at(self, pointer: str) -> str | None:
        """The text of the scalar at ``pointer`` (as written), or None when there is none."""
        import yaml

        node = self.node
        for step in pointer_steps(pointer):
            node = _child(node, step)
            if node is None:
                return None
        return node.value if isinstance(node, yaml.ScalarNode) else None

    def position(self, pointer: str, key: bool = False) -> tuple[int, int]:
        """1-based line and column of the node at ``pointer`` (its key with ``key``), else its deepest ancestor."""
        node = self.node
        mark = node.start_mark
        steps = pointer_steps(pointer)
        for i, step in enumerate(steps):
            last = i == len(steps) - 1
            found = _child(node, step, want_key=key and last)
            if found is None:
                break
            node = found
            mark = node.start_mark
        return mark.line + 1, mark.column + 1


def _child(node: Any, step: str, want_key: bool = False) -> Any:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == step:
                return k if want_key else v
        return None
    if isinstance(node, yaml.SequenceNode) and step.isdigit() and int(step) < len(node.value):
        return node.value[int(step)]
    return None


def compose(path: str) -> list[Document]:
    """Every mapping document of a file, with positions; [] when the file is not YAML."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, encoding="utf-8") as fh:
            return [Document(n) for n in yaml.compose_all(fh, Loader=loader) if isinstance(n, yaml.MappingNode)]
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []


class Locator:
    """Finds the rendered object a tool names and turns a problem inside it into a Finding."""

    def __init__(self, root: str, origins: OriginsArg = None) -> None:
        self.root = root
        self._origins_arg = origins
        self._origins: Origins | None = None
        self._files: dict[str, list[Document]] = {}
        self._lines: dict[str, list[str]] = {}

    @property
    def origins(self) -> Origins:
        if self._origins is None:
            arg = self._origins_arg
            self._origins = (arg() if callable(arg) else arg) or {}
        return self._origins

    def relative(self, path: str) -> str:
        rel = os.path.relpath(os.path.abspath(path), self.root)
        return path if rel.startswith("..") else rel.replace(os.sep, "/")

    def documents(self, path: str) -> list[Document]:
        absolute = os.path.abspath(path)
        if absolute not in self._files:
            self._files[absolute] = compose(absolute)
        return self._files[absolute]

    def find(self, path: str, kind: str, name: str, api_version: str = "") -> Document | None:
        for doc in self.documents(path):
            if doc.kind == kind and doc.name == name and (not api_version or doc.api_version == api_version):
                return doc
        return None

    def origin(self, kind: str, namespace: str, name: str, pointer: str) -> tuple[Origin, str] | None:
        """The spec position that produced ``pointer`` (or its nearest ancestor the render knows), and that pointer."""
        known = self.origins.get(resource_key(kind, namespace, name))
        if not known:
            return None
        steps = pointer_steps(pointer)
        while True:
            candidate = "".join("/" + pointer_escape(s) for s in steps)
            if candidate in known:
                return known[candidate], candidate
            if not steps:
                return None
            steps.pop()

    def _block_line(self, spec_file: str, line: int, column: int, text_line: int,
                    text_column: int = 0) -> tuple[int, int]:
        """Line ``text_line`` (and column ``text_column``, when given) of the string whose value starts at (line,
        column) of ``spec_file``: a literal block scalar (``query: |``), or a plain scalar on one line."""
        if spec_file not in self._lines:
            try:
                with open(os.path.join(self.root, spec_file), encoding="utf-8") as fh:
                    self._lines[spec_file] = fh.read().splitlines()
            except (OSError, UnicodeDecodeError):
                self._lines[spec_file] = []
        lines = self._lines[spec_file]
        if not 0 < line <= len(lines):
            return line, column
        value = lines[line - 1][column - 1:].strip()
        if not _LITERAL.match(value or "-"):
            if text_line == 1 and 0 < text_column <= len(value) + 1 and value[0] not in "'\"|>&!*[{#":
                return line, column + text_column - 1  # a plain scalar: the string is the text as written
            return line, column
        target = line + text_line
        if target > len(lines):
            return line, column
        text = lines[target - 1]
        if not text_column:
            return target, len(text) - len(text.lstrip()) + 1
        # the block's indentation is that of its first line that is not blank (YAML's auto-detection)
        first = next((t for t in lines[line:target] if t.strip()), text)
        return target, len(first) - len(first.lstrip(" ")) + text_column

    def finding(self, rule: str, file: str, doc: Document | None, pointer: str, message: str, hint: str = "",
                severity: Severity = Severity.ERROR, key: bool = False, text_line: int = 0,
                in_spec: bool = True, text_column: int = 0) -> Finding:
        """A problem at ``pointer`` inside ``doc`` of rendered ``file``, placed in rollouts.yaml when known (and
        ``in_spec``: a problem of the catalog, not of the spec, stays on the rendered file).

        ``text_line``: the problem is on that line (1-based) of the string at ``pointer``; when the spec writes the
        string as a literal block (``query: |``), the finding lands on that line of rollouts.yaml, and with
        ``text_column`` on that column of the string's line (also for a plain scalar on one line).
        """
        rel = self.relative(file)
        if doc is None:
            return Finding(rule, severity, rel, 0, 0, message, hint, pointer, "")
        kind, namespace, name = doc.kind, doc.namespace, doc.name
        resource = resource_label(kind, namespace, name)
        line, column = doc.position(pointer, key=key)
        rendered = f"{rel}:{line}:{column}"
        found = self.origin(kind, namespace, name, pointer) if in_spec else None
        if found:
            (spec_file, spec_line, spec_col), at = found
            if text_line and at == pointer:
                spec_line, spec_col = self._block_line(spec_file, spec_line, spec_col, text_line, text_column)
            return Finding(rule, severity, spec_file, spec_line, spec_col, f"{message} (rendered at {rendered})",
                           hint, pointer, resource)
        return Finding(rule, severity, rel, line, column, message, hint, pointer, resource)


    def unknown_field(self, file: str, doc: Document | None, pointer: str, key: str) -> Finding:
        """The finding for a field the schema does not allow, the same from kubeconform and the fallback."""
        return self.finding("schema-violation", file, doc, f"{pointer}/{pointer_escape(key)}",
                            f"{pointer}: unknown field {key!r} (additional properties not allowed)",
                            "Remove the field or fix its spelling: the API server would drop or reject it.", key=True)


_LITERAL = re.compile(r"\|[0-9+-]*\s*(#.*)?$")


_ADDITIONAL = re.compile(r"additional propert(?:y|ies) ('[^']*'(?:, '[^']*')*) not allowed")


def additional_keys(reason: str) -> list[str]:
    """``additional properties 'a', 'b' not allowed`` -> ['a', 'b'] (to point at the offending keys)."""
    m = _ADDITIONAL.search(reason)
    return re.findall(r"'([^']*)'", m.group(1)) if m else []
