"""Flagger's schedule of one rollout, from the strategy alone (no render, no I/O): the ticks its scheduler runs
from the one that detects the new revision to Succeeded (fluxcd/flagger pkg/controller/scheduler.go; the module
documentation of rollouts.plan says what each tick does). Shared by ``rollouts plan`` and lint's rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from .durations import seconds

MIN_INTERVAL = 10.0  # Flagger's Canary.GetAnalysisInterval


class Row(NamedTuple):
    phase: str  # the Canary's phase after the tick
    weight: int  # the canary's traffic weight after it (A/B: of the matched requests)
    does: str
    hooks: tuple[str, ...]  # the webhook types Flagger calls at this tick, in order


def interval(strategy: Mapping[str, Any]) -> float:
    """The seconds between two ticks: strategy.interval, at least Flagger's 10 s."""
    return max(seconds(str(strategy["interval"])), MIN_INTERVAL)


def rows(strategy: Mapping[str, Any]) -> list[Row]:
    """Tick 0 (Progressing) to Succeeded: canary N + 3 ticks after tick 0, A/B I + 3, blue/green I + 4."""
    kind = str(strategy["type"])
    out = [Row("Progressing", 0, "new revision detected: the canary is scaled up", ("confirm-rollout",))]
    if kind == "canary":
        weights = [int(w) for w in strategy.get("steps") or []]
        for i, weight in enumerate(weights, start=1):
            first = "pre-rollout hooks" if i == 1 else "analysis"
            out.append(Row("Progressing", weight, f"{first}, then weight {weight}",
                           ("rollback", "pre-rollout" if i == 1 else "rollout", "confirm-traffic-increase")))
        out.append(Row("Promoting", weights[-1] if weights else 0,
                       "analysis, then promotion: the primary gets the new version",
                       ("rollback", "rollout", "confirm-traffic-increase", "confirm-promotion")))
    else:
        iterations = int(strategy.get("iterations") or 1)
        during = 100 if kind == "abTest" else 0
        for i in range(1, iterations + 1):
            first = "pre-rollout hooks" if i == 1 else "analysis"
            out.append(Row("Progressing", during, f"{first}, then iteration {i}/{iterations}",
                           ("rollback", "pre-rollout" if i == 1 else "rollout")))
        if kind == "blueGreen":
            out.append(Row("Progressing", 100, "analysis, then all traffic to the canary",
                           ("rollback", "rollout", "confirm-promotion")))
        out.append(Row("Promoting", 100 if kind == "blueGreen" else during,
                       "analysis, then promotion: the primary gets the new version",
                       ("rollback", "rollout", "confirm-promotion")))
    out.append(Row("Finalising", 0, "all traffic back to the primary", ()))
    out.append(Row("Succeeded", 0, "the canary is scaled to zero", ("post-rollout",)))
    return out


def time_to_promotion(strategy: Mapping[str, Any]) -> float:
    """Seconds from tick 0 to Succeeded, every gate passing at once."""
    return (len(rows(strategy)) - 1) * interval(strategy)


__all__ = ["MIN_INTERVAL", "Row", "interval", "rows", "time_to_promotion"]
