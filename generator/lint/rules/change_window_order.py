"""Change windows that are empty."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "change-window-order"
SEVERITY = Severity.ERROR
SUMMARY = "A change window's end must be after its start."
REASON = """\
The analysis controller holds a rollout (confirm-rollout webhook) outside every change window; a window whose
end is not after its start is empty, so a release is held for ever and the Canary sits in phase Waiting, a stall
Flagger raises no alert for (fluxcd/flagger#1450, #1663)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        policy = spec.get("policy")
        for i, window in enumerate((policy.get("changeWindows") if policy else None) or []):
            if window["end"] <= window["start"]:
                yield ctx.finding(env, ("policy", "changeWindows", i, "end"),
                                  f"window ends at {window['end']}, not after its start {window['start']}",
                                  "Windows may not cross midnight: split one into two windows.")
