"""Load specs fast when they are fine; fall back to the positional loader when anything needs a position.

ruamel.yaml keeps the line and column of every node, at a few milliseconds a file: that is seconds for a
thousand services, spent on positions that only a finding needs. Here a file is parsed with yaml-rs (YAML 1.2,
like ruamel's default) and linted (``rollouts.lint.load_and_lint``); only when lint has something to say, or
the file uses YAML features where two parsers could disagree (anchors, tags, merge keys, dates), is it loaded again with
the positional loader, so findings carry exact lines and columns.
"""

from __future__ import annotations

from ..spec.load import MAX_BYTES, Spec, parse_plain


def fast_spec(path: str, display: str) -> Spec | None:
    """The spec parsed without positions, or None when the positional loader must decide."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError:
        return None
    return None if len(raw) > MAX_BYTES else parse_plain(raw, display)
