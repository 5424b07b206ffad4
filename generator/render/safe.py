"""The one filter every interpolated value goes through: a YAML-safe JSON scalar or JSON flow collection.

JSON is YAML, with three caveats handled here: characters YAML treats as line breaks inside a quoted scalar
(NEL, LS, PS) or refuses raw (DEL, C1 controls, BOM, U+FFFE/U+FFFF) are written as ``\\uXXXX`` escapes; NaN and
infinities have no JSON form and are refused; mapping keys longer than YAML's 1024-character implicit-key limit
are refused. Whatever a string holds (newlines, ``: ``, ``---``, ``{{ }}``, quotes, ``#``), it stays one scalar.
"""

from __future__ import annotations

import json
import re
from typing import Any

_ESCAPE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
MAX_KEY = 1000  # encoded length, under YAML's 1024-character limit for implicit keys
_encode_str = json.encoder.encode_basestring  # C: what json.dumps(str, ensure_ascii=False) does, minus the call


class RenderValueError(ValueError):
    """A value that cannot be written as YAML (NaN, an over-long key, a lone surrogate)."""


class Yaml(str):
    """Text already made safe by :func:`to_yaml`; the template engine refuses any other interpolation."""

    __slots__ = ()


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if "\ud800" <= char <= "\udfff":
        raise RenderValueError("a string holds a lone surrogate, which cannot be written as UTF-8")
    return f"\\u{ord(char):04x}"


def _check_keys(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise RenderValueError(f"mapping key {key!r} is not a string")
            if len(json.dumps(key, ensure_ascii=False)) > MAX_KEY:
                raise RenderValueError(f"mapping key {key[:30]!r}... is longer than {MAX_KEY} characters")
            _check_keys(item)
    elif isinstance(value, list):
        for item in value:
            _check_keys(item)


_STR_CACHE: dict[str, Yaml] = {}


def to_yaml(value: Any) -> Yaml:
    """``value`` as one YAML flow node (JSON), safe to place after ``key: `` or ``- `` on a line."""
    kind = type(value)
    if kind is str:
        cached = _STR_CACHE.get(value)
        if cached is None:
            cached = Yaml(_ESCAPE.sub(_escape, _encode_str(value)))
            if len(_STR_CACHE) < 100_000:
                _STR_CACHE[value] = cached
        return cached
    if kind is int:
        return Yaml(int.__repr__(value))
    if kind is bool:
        return Yaml("true" if value else "false")
    if isinstance(value, Yaml):
        return value
    if isinstance(value, dict | list):
        _check_keys(value)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))
    except ValueError as e:
        raise RenderValueError(f"{value!r} has no YAML form: {e}") from None
    except TypeError as e:
        str(value)  # an undefined template variable (StrictUndefined) raises its UndefinedError here
        raise RenderValueError(str(e)) from None
    return Yaml(_ESCAPE.sub(_escape, text))
