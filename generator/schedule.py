"""Flagger's schedule of one rollout, from the strategy alone (no render, no I/O): the ticks its scheduler runs
from the one that detects the new revision to Succeeded (fluxcd/flagger pkg/controller/scheduler.go; the module
documentation of rollouts.render.plan says what each tick does). Shared by ``rollouts plan`` and lint's rules."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from .durations import seconds

MIN_INTERVAL = 10.0  # Flagger's Canary.GetAnalysisInterval
SCRAPE_INTERVAL = 10.0  # linkerd-viz's Prometheus scrape_interval (the SLO's metrics go through it)
SLO_METRICS = ("successRate", "latencyP99", "latencyP95")  # the SLO fields that become analysis metrics
_WINDOW = re.compile(r"\{\{\s*interval\s*\}\}")
TOTAL_WEIGHT = 100  # Flagger's Controller.totalWeight: the canary's weight never exceeds it


class Row(NamedTuple):
    phase: str  # the Canary's phase after the tick
    weight: int  # the canary's traffic weight after it (A/B: of the matched requests)
    does: str
    hooks: tuple[str, ...]  # the webhook types Flagger calls at this tick, in order


def interval(strategy: Mapping[str, Any]) -> float:
    """The seconds between two ticks: strategy.interval, at least Flagger's 10 s."""
    return max(seconds(str(strategy["interval"])), MIN_INTERVAL)


def max_weight(strategy: Mapping[str, Any]) -> int:
    """The weight at which Flagger promotes a canary: Controller.maxWeight (pkg/controller/scheduler.go) takes the
    last of stepWeights (at most 100) when any are set, else analysis.maxWeight, else totalWeight, 100."""
    steps = strategy.get("steps") or []
    if steps:
        return min(TOTAL_WEIGHT, int(steps[-1]))
    return int(strategy.get("maxWeight") or TOTAL_WEIGHT)


def weights(strategy: Mapping[str, Any]) -> list[int]:
    """The canary's weight after each traffic step of a canary strategy, in order.

    With stepWeight s: Controller.nextStepWeight returns s whenever it is set, and runCanary, while the weight is
    below maxWeight M, adds it and caps the sum at 100 (pkg/controller/scheduler.go), so the weights are
    min(100, i x s) for i = 1..ceil(M / s), and the last can pass M (s 20, M 50: 20, 40, 60). With steps: the steps.
    """
    step = int(strategy.get("stepWeight") or 0)
    if step > 0:
        top = max_weight(strategy)
        return [min(TOTAL_WEIGHT, i * step) for i in range(1, math.ceil(top / step) + 1)]
    return [int(w) for w in strategy.get("steps") or []]


def overshoot(strategy: Mapping[str, Any]) -> int:
    """The canary's last weight when it passes the weight Flagger promotes at (a stepWeight that does not divide
    maxWeight), else 0."""
    last = weights(strategy)[-1:] if strategy.get("type") == "canary" else []
    return last[0] if last and last[0] > max_weight(strategy) else 0


def rows(strategy: Mapping[str, Any]) -> list[Row]:
    """Tick 0 (Progressing) to Succeeded: canary N + 3 ticks after tick 0 (N = its :func:`weights`), A/B I + 3,
    blue/green I + 4."""
    kind = str(strategy["type"])
    out = [Row("Progressing", 0, "new revision detected: the canary is scaled up", ("confirm-rollout",))]
    if kind == "canary":
        steps = weights(strategy)
        for i, weight in enumerate(steps, start=1):
            first = "pre-rollout hooks" if i == 1 else "analysis"
            out.append(Row("Progressing", weight, f"{first}, then weight {weight}",
                           ("rollback", "pre-rollout" if i == 1 else "rollout", "confirm-traffic-increase")))
        out.append(Row("Promoting", steps[-1] if steps else 0,
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


def windows(spec: Mapping[str, Any]) -> list[tuple[str, float]]:
    """Each analysis metric's name and the window a bad version must fill before the metric shows it: the SLO's
    interval for the SLO's metrics, a metric's own interval when its query ranges over {{ interval }}, and nothing
    for an instant query (a gauge shows the change at its next scrape)."""
    slo = spec.get("slo") or {}
    out = [(f"slo.{key}", seconds(str(slo["interval"]))) for key in SLO_METRICS if key in slo]
    for metric in spec.get("metrics") or []:
        ranged = _WINDOW.search(str(metric["query"]))
        out.append((str(metric["name"]), seconds(str(metric["interval"])) if ranged else 0.0))
    return out


def detection(spec: Mapping[str, Any]) -> tuple[float, str, float]:
    """The worst case from a bad version's first bad request to its rollback, with the longest metric window
    (name, seconds): the window fills, the next scrape sees it, the next tick fails its first check (up to one
    interval later), and the rollback comes ``threshold`` intervals after that first failed check."""
    strategy = spec["strategy"]
    every = interval(strategy)
    name, window = max(windows(spec), key=lambda w: w[1], default=("", 0.0))
    return int(strategy.get("threshold") or 1) * every + window + SCRAPE_INTERVAL + every, name, window


def release_rollback(spec: Mapping[str, Any]) -> float:
    """fluxRollback: the worst case from a bad release's first request to the start of its rollback. Flux's
    helm-controller upgrades, waits up to strategy.releaseTimeout for the workload to be ready (the new pods serve as
    soon as they are), then runs the chart's tests one after the other, each up to the same timeout (HelmRelease
    spec.timeout; fluxcd/helm-controller internal/reconcile/atomic_release.go: upgrade, test, then remediation by
    rollback): (1 + tests) x releaseTimeout."""
    tests = len((spec["workload"].get("chart") or {}).get("tests") or [])
    return (1 + tests) * seconds(str(spec["strategy"]["releaseTimeout"]))


def time_to_promotion(strategy: Mapping[str, Any]) -> float:
    """Seconds from tick 0 to Succeeded, every gate passing at once."""
    return (len(rows(strategy)) - 1) * interval(strategy)


__all__ = ["MIN_INTERVAL", "SCRAPE_INTERVAL", "TOTAL_WEIGHT", "Row", "detection", "interval", "max_weight", "overshoot",
           "release_rollback", "rows", "time_to_promotion", "weights", "windows"]
