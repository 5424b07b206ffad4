"""A marginal score above the pass score."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "judge-scores-inverted"
SEVERITY = Severity.ERROR
SUMMARY = "The judge's marginalScore must not be above its passScore."
REASON = """\
The judge passes a canary scoring at least passScore, holds one scoring at least marginalScore, and fails the
rest. With marginalScore above passScore the hold band is empty and the thresholds contradict each other: a
score between them would both pass and fall short of marginal. Kayenta's canary judge has the same two
thresholds and requires marginal <= pass (no upstream issue in Flagger, which has no judge)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        judge = spec.get("judge")
        if judge is not None and judge["marginalScore"] > judge["passScore"]:
            yield ctx.finding(env, ("judge", "marginalScore"),
                              f"marginalScore {judge['marginalScore']} is above passScore {judge['passScore']}",
                              "Set marginalScore at or below passScore (for example pass 80, marginal 60).")
