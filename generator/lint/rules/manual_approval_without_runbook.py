"""Manual gates need a runbook."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from ...spec.types import Gates
    from . import Context

ID = "manual-approval-without-runbook"
SEVERITY = Severity.WARNING
SUMMARY = "A manual approval gate should link a runbook that says who approves and how."
REASON = """\
A confirm-rollout or confirm-promotion gate waits for ever (phase Waiting or WaitingPromotion) until someone
opens it on the load tester; without a runbook, nobody on call knows that, or how, and the release sits stalled
(fluxcd/flagger#1450; docs/gitbook/usage/webhooks.md, manual gating)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        gates: Gates = spec.get("gates") or {}
        gate = gates.get("manualApproval")
        if gate and (gate["beforeRollout"] or gate["beforePromotion"]) and not gate.get("runbook"):
            yield ctx.finding(env, ("gates", "manualApproval"), "manual approval gate without a runbook",
                              "Add gates.manualApproval.runbook: a link that says who approves and how.")
