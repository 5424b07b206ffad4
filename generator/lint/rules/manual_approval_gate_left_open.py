"""An approval must not carry over to the next release."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from ...spec.types import Gates
    from . import Context

ID = "manual-approval-gate-left-open"
SEVERITY = Severity.WARNING
SUMMARY = "A manual approval gate should be closed after the rollout (gates.manualApproval.closeAfterRollout)."
REASON = """\
The load tester keeps one gate per Canary (name.namespace), in memory, open from /gate/open until someone calls
/gate/close; nothing closes it when a rollout ends (fluxcd/flagger pkg/loadtester/gate.go and server.go;
fluxcd/flagger#1309). With closeAfterRollout: false the tree adds no post-rollout close, so an approval given for
one release also approves every later one, until the gate is closed by hand or the load tester restarts and
forgets it."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        gates: Gates = spec.get("gates") or {}
        gate = gates.get("manualApproval")
        if gate and (gate["beforeRollout"] or gate["beforePromotion"]) and gate["closeAfterRollout"] is False:
            yield ctx.finding(env, ("gates", "manualApproval", "closeAfterRollout"),
                              "the approval gate stays open after the rollout; the next release is pre-approved",
                              "Remove closeAfterRollout: false so that each release needs its own approval.")
