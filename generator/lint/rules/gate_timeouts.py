"""The webhooks Flagger may call in one analysis tick must finish within the interval."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ...controller_hooks import GATE_TIMEOUT, hooks
from ...durations import duration, seconds
from ...findings import Finding, Severity
from ...schedule import rows
from .interval_below_minimum import MINIMUM

if TYPE_CHECKING:
    from . import Context

ID = "gate-timeouts"
SEVERITY = Severity.ERROR
SUMMARY = "The timeouts of the webhooks Flagger may call in one analysis tick must add up to less than the interval."
REASON = """\
Flagger calls the webhooks of a tick one after the other, each with its own timeout: at every tick of the analysis
the rollback hooks, the rollout hooks (the load test, the analysis controller's probes and judge), then the confirm-
traffic-increase hooks before a step, and at the last step the confirm-promotion hooks too
(pkg/controller/scheduler.go advanceCanary; rollouts.schedule lists each tick's). When they can take longer together
than the interval, the next tick starts late and checks fail or pile up. Flagger's docs: the sum of rollout-hook
timeouts should be lower than analysis.interval (fluxcd/flagger#1450; docs/gitbook/usage/webhooks.md). The
controller's hooks are rendered with the timeouts of rollouts.controller_hooks (the probes' hook: the longest flow's
latency budgets plus two seconds)."""


def tick(spec: Any) -> list[tuple[str, float]]:
    """(webhook, timeout in seconds) of the longest tick after the first (which runs the pre-rollout hooks, once),
    each tick's hook types from the schedule (rollouts.schedule), of one type the controller's first."""
    by_type: dict[str, list[tuple[str, float]]] = {}
    for hook in hooks(spec):
        by_type.setdefault(hook.type, []).append((f"{hook.name} {hook.timeout}s", float(hook.timeout)))
    gates: dict[str, Any] = spec.get("gates") or {}
    load = gates.get("loadTest")
    if load:
        by_type.setdefault("rollout", []).append((f"load-test {load['timeout']}", seconds(load["timeout"])))
    if (gates.get("manualApproval") or {}).get("beforePromotion"):
        by_type.setdefault("confirm-promotion", []).append((f"approve-promotion {GATE_TIMEOUT}s",
                                                            float(GATE_TIMEOUT)))
    ticks = [[part for kind in row.hooks for part in by_type.get(kind, [])] for row in rows(spec["strategy"])[2:]]
    return max(ticks, key=lambda parts: sum(value for _, value in parts), default=[])


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        if spec["strategy"]["type"] == "fluxRollback":  # no Flagger analysis (flux-rollback-field-ignored)
            continue
        parts = tick(spec)
        total = sum(value for _, value in parts)
        interval = spec["strategy"]["interval"]
        if total >= max(seconds(interval), MINIMUM):  # a shorter interval is raised to Flagger's minimum
            load = (spec.get("gates") or {}).get("loadTest")
            where = ("gates", "loadTest", "timeout") if load else ("strategy", "interval")
            yield ctx.finding(env, where,
                              f"the webhooks of one analysis tick may take {duration(total)} "
                              f"({' + '.join(text for text, _ in parts)}), not less than the interval {interval}",
                              "Shorten the load test's timeout or the probes' latency budgets, or lengthen "
                              "strategy.interval.")
