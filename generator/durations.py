"""Durations as a spec writes them (``30s``, ``1m30s``, ``500ms``): read by the rules and the renderer alike.

The schema's duration pattern has already checked the shape, so reading only sums the parts."""

from __future__ import annotations

import re

_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


def milliseconds(text: str) -> int:
    """``1h30m`` -> 5400000."""
    return sum(int(n) * _UNIT_MS[unit] for n, unit in _PART.findall(text))


def seconds(text: str) -> float:
    """``1m30s`` -> 90.0, ``500ms`` -> 0.5."""
    return milliseconds(text) / 1000


def duration(value: float) -> str:
    """Seconds as a short duration: 90 -> 1m30s, 0.5 -> 500ms."""
    if value < 1:
        return f"{round(value * 1000)}ms"
    whole = round(value)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return out or "0s"
