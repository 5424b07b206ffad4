"""Load one rollouts.yaml into a tree that keeps the line and column of every node.

Everything a user can get wrong in the file itself (size, encoding, YAML syntax, duplicate keys, alias bombs, a
top-level list) comes back as a Finding, never as an exception.
"""

from __future__ import annotations

import datetime
import os
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..findings import Finding, error

if TYPE_CHECKING:  # ruamel.yaml is imported when a file is parsed with positions (lint's fast path never does)
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import MarkedYAMLError

MAX_BYTES = 128 * 1024  # a real spec is a few KiB; ruamel parses about 0.25 MiB/s, so this bounds the time too
MAX_NODES = 100_000
MAX_FLOW_DEPTH = 64  # ruamel's scanner slows quadratically on deeply nested [ and { before it gives up

Path = tuple[str | int, ...]


class Spec:
    """One loaded rollouts.yaml: its display path, its text and its round-trip tree."""

    def __init__(self, file: str, text: str, data: CommentedMap) -> None:
        self.file = file
        self.text = text
        self.data = data
        self.lines = text.splitlines()
        self.resolved: dict[str, dict[str, Any]] = {}  # environment -> resolve() result, computed once (lint, render)

    @property
    def name(self) -> str:
        return str(self.data.get("metadata", {}).get("name", ""))

    def position(self, path: Path, key: bool = False) -> tuple[int, int]:
        """1-based line and column of the value at ``path`` (of its key with ``key=True``).

        When the path does not exist, the position of the deepest ancestor that does.
        """
        if not hasattr(self.data, "lc"):  # parsed without positions (parse_plain)
            return (1, 1)
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        node: Any = self.data
        pos = (1, 1)
        for step in path:
            try:
                if isinstance(node, CommentedMap) and step in node:
                    last = key and step == path[-1]
                    line, col = node.lc.key(step) if last else node.lc.value(step)
                    pos = (line + 1, col + 1)
                    node = node[step]
                elif isinstance(node, CommentedSeq) and isinstance(step, int) and 0 <= step < len(node):
                    line, col = node.lc.item(step)
                    pos = (line + 1, col + 1)
                    node = node[step]
                else:
                    break
            except (KeyError, IndexError, TypeError, AttributeError):
                break
        return pos

    def get(self, path: Path, default: Any = None) -> Any:
        node: Any = self.data
        for step in path:
            in_map = isinstance(node, dict) and step in node
            if in_map or (isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)):
                node = node[step]
            else:
                return default
        return node


def path_text(path: Path) -> str:
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            name = step if isinstance(step, str) else _flow_text(step)
            out += f".{name}" if out else name
    return out


def describe(value: Any) -> str:
    """A YAML value in a user's words (never a Python type name): 'a list', 'a tagged value !foo x', 'empty'."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    tag = getattr(getattr(value, "tag", None), "value", None)
    if _tagged(value):
        return f"a tagged value {tag} {value.value}"
    prefix = f"a tagged ({tag}) " if isinstance(tag, str) and tag.startswith("!") else "a "
    if isinstance(value, Mapping):
        return prefix + "mapping"
    if isinstance(value, list | tuple):
        return prefix + "list"
    if isinstance(value, str):
        return prefix + "string"
    if isinstance(value, int):
        return f"the number {int(value)}"
    if isinstance(value, float):
        return f"the number {float(value)}"
    if isinstance(value, datetime.datetime):
        return f"a timestamp {value.isoformat()}"
    if isinstance(value, datetime.date):
        return f"a date {value.isoformat()}"
    if isinstance(value, bytes):
        return "binary data (!!binary)"
    return "a value of an unknown kind"


def _tagged(value: Any) -> bool:
    """A ruamel TaggedScalar (``!foo x``); none exists unless ruamel has parsed a file."""
    comments = sys.modules.get("ruamel.yaml.comments")
    return comments is not None and isinstance(value, comments.TaggedScalar)


def _flow_text(value: Any) -> str:
    """A key that is not a string (``[a, b]: 1``, ``{k: v}: 1``, ``1: x``) as YAML flow text."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_flow_text(k)}: {_flow_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow_text(v) for v in value) + "]"
    if _tagged(value):
        return f"{getattr(value.tag, 'value', value.tag)} {value.value}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _yaml() -> YAML:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def load(path: str, display: str | None = None) -> tuple[Spec | None, list[Finding]]:
    """Read and parse one spec file. Returns the spec (or None) and the findings that stopped or marred it."""
    file = display or path
    try:
        size = os.stat(path).st_size
        if size > MAX_BYTES:
            return None, [error("file-too-large", file, 0, 0,
                                f"the file is {_size(size)}; a rollouts.yaml may be at most {_size(MAX_BYTES)}",
                                "Keep large chart values in the chart, not in rollouts.yaml.")]
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except IsADirectoryError:
        return None, [error("file-unreadable", file, 0, 0, "this is a directory, not a rollouts.yaml file",
                            f"Name the spec inside it: {os.path.join(file, 'rollouts.yaml')}.")]
    except OSError as e:
        return None, [error("file-unreadable", file, 0, 0, f"cannot read the file: {e.strerror}",
                            "Check the path and the file's permissions.")]
    return parse(raw, file)


def parse(raw: bytes, file: str) -> tuple[Spec | None, list[Finding]]:
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    if b"\0" in raw:
        line, col = _line_col(raw, raw.index(b"\0"))
        return None, [error("file-binary", file, line, col, "this is a binary file, not YAML",
                            "Point rollouts at services/<service>/rollouts.yaml files only.")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line, col = _line_col(raw, e.start)
        return None, [error("file-encoding", file, line, col, f"byte 0x{raw[e.start]:02x} is not valid UTF-8",
                            "Save the file as UTF-8.")]
    text = text.removeprefix("\ufeff")
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        return None, [error("file-empty", file, 1, 1, "the file is empty",
                            "Start from an example in services/, with apiVersion: rollouts/v1alpha1.")]
    deep = _flow_too_deep(text)
    if deep >= 0:
        line, col = _line_col(text.encode("utf-8"), len(text[:deep].encode("utf-8")))
        return None, [error("yaml-nesting", file, line, col,
                            f"brackets are nested more than {MAX_FLOW_DEPTH} deep",
                            "Write nested values as indented blocks, a few levels deep.")]
    try:
        data = _yaml().load(text)
    except MarkedYAMLError as e:
        return None, [_yaml_finding(e, file, text)]
    except YAMLError as e:  # pragma: no cover - ruamel raises marked errors for all syntax problems seen
        return None, [error("yaml-syntax", file, 1, 1, f"invalid YAML: {e}",
                            "Check the indentation and quoting.")]
    except RecursionError:
        return None, [error("yaml-nesting", file, 1, 1, "the YAML is nested too deeply",
                            "Write nested values a few levels deep, not hundreds.")]
    if not isinstance(data, CommentedMap):
        return None, [error("spec-not-mapping", file, 1, 1, f"the top level is {describe(data)}, not a mapping",
                            "A rollouts.yaml is one mapping with apiVersion, kind, metadata and spec.")]
    nodes = _count_nodes(data, {})
    if nodes > MAX_NODES:
        return None, [error("yaml-alias-bomb", file, 1, 1,
                            f"aliases expand this file to more than {MAX_NODES} nodes",
                            "Remove the anchors and aliases that refer to each other; write the values out.")]
    return Spec(file, text, data), []


# constructs where parsers may differ or that only the positional loader guards (alias bombs): take the slow path
RISKY = re.compile(rb"&|<<|(?:^|[\s,\[{:-])!|\b[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}\b|^%", re.MULTILINE)


def _plain(node: Any) -> bool:
    if isinstance(node, dict):
        return all(_plain(v) for v in node.values())
    if isinstance(node, list):
        return all(_plain(v) for v in node)
    return node is None or isinstance(node, str | int | float | bool)


def parse_plain(raw: bytes, file: str) -> Spec | None:
    """The file as plain data without positions (yaml-rs, YAML 1.2 like ruamel's default, much faster than
    :func:`parse`), or None when :func:`parse` must decide: anything but a plain mapping, and the YAML features
    where two parsers could disagree or that only :func:`parse` guards (anchors, tags, merge keys, dates, a BOM).
    Use it only where a problem sends the caller back to :func:`parse` for positions."""
    if b"\0" in raw or raw.startswith(b"\xef\xbb\xbf") or RISKY.search(raw):
        return None
    import yaml_rs

    try:
        text = raw.decode("utf-8")
        data = yaml_rs.loads(text, parse_datetime=False, duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.Error)
    except (UnicodeDecodeError, yaml_rs.YAMLDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not _plain(data):
        return None
    return Spec(file, text, data)  # type: ignore[arg-type]  # plain dict: positions are never asked for


def _size(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB" if size >= 1024 * 1024 else f"{size // 1024} KiB"


def _flow_too_deep(text: str) -> int:
    """Offset where [ and { nest deeper than MAX_FLOW_DEPTH (outside quotes and comments), else -1."""
    if text.count("[") + text.count("{") <= MAX_FLOW_DEPTH:
        return -1
    depth = 0
    quote = ""
    previous = "\n"
    for offset, char in enumerate(text):
        if quote:
            if char == quote or (char == "\n" and quote == "#"):
                quote = ""
        elif char in "'\"" and previous in " \t\n[{,:":
            quote = char
        elif char == "#" and previous in " \t\n":
            quote = "#"
        elif char in "[{":
            depth += 1
            if depth > MAX_FLOW_DEPTH:
                return offset
        elif char in "]}":
            depth = max(depth - 1, 0)
        previous = char
    return -1


def _count_nodes(node: Any, memo: dict[int, int]) -> int:
    """Expanded size of the tree, counting every alias as a full copy; linear in the distinct nodes."""
    if not isinstance(node, dict | list):
        return 1
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_NODES + 1  # a cycle counts as too large
    children = node.values() if isinstance(node, dict) else node
    total = 1
    for child in children:
        total += _count_nodes(child, memo)
        if total > MAX_NODES:
            break
    memo[key] = total
    return total


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    line = raw.count(b"\n", 0, offset) + 1
    col = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return line, col


def _yaml_finding(e: MarkedYAMLError, file: str, text: str) -> Finding:
    mark = e.problem_mark or e.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = (e.problem or str(e)).strip()
    name = type(e).__name__
    if name == "DuplicateKeyError":
        key = problem.split('"')[1] if '"' in problem else ""
        first = _first_key_line(text, e.context_mark, key) if e.context_mark is not None and key else None
        where = f" (first defined on line {first})" if first is not None else ""
        return error("yaml-duplicate-key", file, line, col, f"duplicate key {key!r}{where}".replace(" ''", ""),
                     "Remove one of the two keys; YAML keeps only one, silently.")
    lines = text.splitlines()
    if (0 < line <= len(lines) and "\t" in lines[line - 1][: max(col, 1)]) or "'\\t'" in problem:
        return error("yaml-tab", file, line, col, "a tab character is used for indentation",
                     "YAML indentation must be spaces: replace the tab with spaces.")
    if "expected a single document" in f"{e.context} {problem}":
        return error("yaml-multiple-documents", file, line, col, "the file holds more than one YAML document",
                     "Keep one service per rollouts.yaml and remove the '---' separator.")
    context = f"{e.context.strip()}: " if e.context else ""
    return error("yaml-syntax", file, line, col, f"invalid YAML: {context}{problem}",
                 "Check the indentation and quoting on this line and the one before.")


def _first_key_line(text: str, mapping: Any, key: str) -> int | None:
    """1-based line of the first occurrence of ``key`` in the mapping that starts at the mark ``mapping``."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.events import (
        CollectionEndEvent,
        CollectionStartEvent,
        MappingStartEvent,
        ScalarEvent,
    )

    depth = -1  # -1: not inside the mapping yet; 0: at its keys and values
    expect_key = True
    try:
        for event in YAML(typ="rt").parse(text):
            if depth < 0:
                at = (event.start_mark.line, event.start_mark.column)
                if isinstance(event, MappingStartEvent) and at == (mapping.line, mapping.column):
                    depth = 0
                continue
            if isinstance(event, CollectionStartEvent):
                depth += 1
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
                if depth < 0:
                    return None
                if depth == 0:
                    expect_key = not expect_key
            elif depth == 0:
                if expect_key and isinstance(event, ScalarEvent) and event.value == key:
                    return int(event.start_mark.line) + 1
                expect_key = not expect_key
    except YAMLError:
        return None
    return None
