"""Load specs fast when they are fine; fall back to the positional loader when anything needs a position.

ruamel.yaml keeps the line and column of every node, at a few milliseconds a file: that is seconds for a
thousand services, spent on positions that only a finding needs. Here a file is parsed with yaml-rs (YAML 1.2,
like ruamel's default) and linted through the public lint API; only when lint has something to say, or the file
uses YAML features where two parsers could disagree (anchors, tags, merge keys, dates), is it loaded again with
the positional loader, so findings carry exact lines and columns.
"""

from __future__ import annotations

import re
from typing import Any

from ..findings import Finding
from ..project import Project
from ..spec.load import MAX_BYTES, Spec, load

# constructs where parsers may differ or that only the positional loader guards (alias bombs): take the slow path
_RISKY = re.compile(rb"&|<<|(?:^|[\s,\[{:-])!|\b[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}\b|^%", re.MULTILINE)


def _plain(node: Any) -> bool:
    if isinstance(node, dict):
        return all(_plain(v) for v in node.values())
    if isinstance(node, list):
        return all(_plain(v) for v in node)
    return node is None or isinstance(node, str | int | float | bool)


def fast_spec(path: str, display: str) -> Spec | None:
    """The spec parsed without positions, or None when the positional loader must decide."""
    import yaml_rs

    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError:
        return None
    if len(raw) > MAX_BYTES or b"\0" in raw or raw.startswith(b"\xef\xbb\xbf") or _RISKY.search(raw):
        return None
    try:
        text = raw.decode("utf-8")
        data = yaml_rs.loads(text, parse_datetime=False, duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.Error)
    except (UnicodeDecodeError, yaml_rs.YAMLDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not _plain(data):
        return None
    return Spec(display, text, data)  # type: ignore[arg-type]  # plain dict: positions are never asked for


def load_and_lint(project: Project, path: str) -> tuple[Spec | None, list[Finding]]:
    """One spec and its lint findings; exact positions whenever there is a finding."""
    from ..lint import lint_spec

    display = project.relative(path)
    spec = fast_spec(path, display)
    if spec is not None and not lint_spec(spec, project):
        return spec, []
    slow, findings = load(path, display)
    if slow is None:
        return None, findings
    return slow, lint_spec(slow, project)
