"""Webhooks run at every interval must finish within it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...durations import duration, seconds
from ...findings import Finding, Severity

if TYPE_CHECKING:
    from ...spec.types import Gates, Probes
    from . import Context

ID = "gate-timeouts"
SEVERITY = Severity.ERROR
SUMMARY = "The timeouts of the webhooks run at every interval (load test, probes) must add up to less than it."
REASON = """\
Flagger calls the rollout webhooks one after the other at every analysis interval, each with its own timeout;
when they can take longer together than the interval, the next run starts before the last finished and checks
fail or pile up. Flagger's docs: the sum of rollout-hook timeouts should be lower than analysis.interval
(fluxcd/flagger#1450; docs/gitbook/usage/webhooks.md). The probes count with the sum of their latency budgets."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        parts: list[tuple[str, float]] = []
        gates: Gates = spec.get("gates") or {}
        load = gates.get("loadTest")
        if load:
            parts.append((f"loadTest {load['timeout']}", seconds(load["timeout"])))
        probes: Probes = spec.get("probes") or {}
        flows = probes.get("flows") or []
        budget = sum(seconds(step["latencyBudget"]) for flow in flows for step in flow["steps"])
        if budget:
            parts.append((f"probes {duration(budget)}", budget))
        total = sum(value for _, value in parts)
        interval = spec["strategy"]["interval"]
        if parts and total >= seconds(interval):
            where = ("gates", "loadTest", "timeout") if load else ("probes", "flows")
            yield ctx.finding(env, where,
                              f"webhooks run every interval may take {duration(total)} "
                              f"({' + '.join(text for text, _ in parts)}), not less than the interval {interval}",
                              "Shorten the timeouts or lengthen strategy.interval.")
