"""Skipping the analysis in production."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "skip-analysis-in-production"
SEVERITY = Severity.WARNING
SUMMARY = "skipAnalysis in production promotes every release without checks."
REASON = """\
With skipAnalysis Flagger promotes the canary at once, running neither metrics nor gates (fluxcd/flagger
docs/gitbook/usage/how-it-works.md). It is meant for emergencies; left on in production it silently turns
progressive delivery off for every later release."""

PRODUCTION = ("production", "prod")


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        if env in PRODUCTION and spec["strategy"]["skipAnalysis"]:
            yield ctx.finding(env, ("strategy", "skipAnalysis"), f"skipAnalysis is on in {env}",
                              "Turn it off once the emergency is over, or set it only in a non-production "
                              "environment's overrides.")
