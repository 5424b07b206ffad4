"""A freeze that ends before it starts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "freeze-order"
SEVERITY = Severity.ERROR
SUMMARY = "A freeze's end must be after its start."
REASON = """\
The analysis controller holds every rollout that would start inside a freeze (policy.freezes, the
confirm-rollout webhook). A freeze whose end is not after its start holds nothing, so the freeze the team
announced is silently not enforced: most often the year of the end was not moved on (no upstream issue: Flagger
has no freezes of its own, the analysis controller adds them)."""


def instant(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        policy = spec.get("policy")
        for i, freeze in enumerate((policy.get("freezes") if policy else None) or []):
            start, end = instant(freeze["start"]), instant(freeze["end"])
            if start is None or end is None:
                yield ctx.finding(env, ("policy", "freezes", i, "start" if start is None else "end"),
                                  "not a date and time", "Write RFC 3339: 2026-12-20T00:00:00Z.")
            elif end <= start:
                yield ctx.finding(env, ("policy", "freezes", i, "end"),
                                  f"freeze {freeze['reason']!r} ends at {freeze['end']}, not after its start "
                                  f"{freeze['start']}", "Set the end after the start.")
