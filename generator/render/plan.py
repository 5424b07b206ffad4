"""What a rollout will do, before it is merged: Flagger's schedule for one service in one environment, computed from
the resolved spec and the webhooks and metrics the render gives its Canary (so the plan is of what will run).

Flagger's scheduler (fluxcd/flagger pkg/controller/scheduler.go at the pinned version) runs one tick per analysis
interval (at least 10 s). Counted from the tick that detects the new revision and sets Progressing (tick 0, after
the confirm-rollout hooks passed):

- canary with stepWeights w1..wN: tick 1 runs the pre-rollout hooks and sets w1; ticks 2..N analyse and step; tick
  N+1 analyses, asks confirm-promotion and promotes; tick N+2 routes all traffic back to the primary (Finalising);
  tick N+3 scales the canary down (Succeeded): (N + 3) intervals. Before every step, confirm-traffic-increase.
- canary with stepWeight s and maxWeight M (Flagger's default 100): the same ticks for the weights min(100, i x s),
  i = 1..N, N = ceil(M / s) (runCanary adds s while the weight is below M), so the last weight passes M when s does
  not divide it (s 20, M 50: 20, 40, 60); the plan notes it.
- A/B with I iterations: tick 1 pre-rollout and iteration 1, ticks 2..I analyse, tick I+1 analyses and promotes,
  then Finalising and Succeeded: (I + 3) intervals.
- blue/green with I iterations: as A/B, plus one tick (I+1) that routes all traffic to the canary before the
  promotion at I+2: (I + 4) intervals.
- every tick from 1 calls the rollback hooks first; failed checks add up within a revision and the threshold is
  checked at the start of a tick, so a rollback comes ``threshold`` intervals after the first failed check. A bad
  version shows in a metric once its window holds bad samples: the worst case from the first bad request to the
  rollback is threshold x interval + the longest metric window + the scrape interval + one interval (the check
  that first sees it waits for its tick).
- a tick whose webhooks take longer than the interval delays the next (Go's ticker drops the ticks missed): with
  every webhook at its timeout (Flagger's default 10 s when none is set), a tick lasts ceil(worst / interval)
  intervals. confirm-rollout, confirm-traffic-increase and confirm-promotion gates may wait "until approved"; the
  plan counts them as passing at once and lists them.

- fluxRollback (no Flagger): Flux's helm-controller upgrades the release in one go and waits up to
  strategy.releaseTimeout for it to be ready, runs the chart's Helm tests one after the other (each up to the same
  timeout), and when the upgrade or a test fails rolls back to the last good release, then retries the upgrade
  strategy.retries times (fluxcd/helm-controller internal/reconcile/atomic_release.go, api/v2 UpgradeRemediation at
  v1.6.3). The new version gets all traffic as soon as its pods are ready, so the worst case from its first request
  to the rollback is (1 + tests) x releaseTimeout, and a bad version is released 1 + retries times.

Every figure names the setting that drives it. No I/O: the core returns a :class:`Plan`; the CLI prints it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..durations import duration, seconds
from ..schedule import MIN_INTERVAL, SCRAPE_INTERVAL, detection, max_weight, overshoot, release_rollback, rows
from ..schedule import interval as schedule_interval
from .builders.gates import webhooks
from .model import Service

DEFAULT_WEBHOOK_TIMEOUT = 10.0  # Flagger's CallWebhook when a webhook sets no timeout
GATE_TYPES = ("confirm-rollout", "confirm-traffic-increase", "confirm-promotion")


@dataclass(frozen=True)
class Tick:
    tick: int
    at: float  # seconds after tick 0 (best case)
    phase: str  # the Canary's phase after the tick
    weight: int  # the canary's traffic weight after the tick (A/B: of the matched requests)
    does: str
    hooks: tuple[str, ...]  # the webhooks called, in order ("type name")
    worst: float  # their timeouts added up


@dataclass(frozen=True)
class Gate:
    type: str
    name: str
    url: str
    timeout: float
    waits: bool  # a confirm-* gate: it may hold the rollout until approved


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str  # s, %, %·min, pod·min, requests, x (times)
    driven_by: str  # the settings it comes from


@dataclass(frozen=True)
class Plan:
    service: str
    environment: str
    strategy: str
    interval: float
    ticks: tuple[Tick, ...]
    gates: tuple[Gate, ...]
    figures: tuple[Figure, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def figure(self, name: str) -> float:
        return next(f.value for f in self.figures if f.name == name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _timeout(hook: dict[str, Any]) -> float:
    return seconds(str(hook["timeout"])) if hook.get("timeout") else DEFAULT_WEBHOOK_TIMEOUT


RATE_WINDOW = "1h"  # the window of the request rate the plan asks Prometheus for


def request_rate_query(resolved: Any) -> str:
    """The PromQL of the service's request rate today: its primary's inbound requests per second (Linkerd's
    response_total, as the SLO's templates read it), averaged over RATE_WINDOW."""
    svc = Service(resolved)
    serving = svc.name if svc.spec["strategy"]["type"] == "fluxRollback" else f"{svc.name}-primary"
    return (f'sum(rate(response_total{{namespace="{svc.namespace}", deployment="{serving}", '
            f'direction="inbound"}}[{RATE_WINDOW}]))')


def plan(resolved: Any, request_rate: float | None = None) -> Plan:
    """The plan of one resolved spec (spec.resolve.resolve) in its environment; with ``request_rate`` (requests
    per second, request_rate_query's answer; NaN when Prometheus has none), also the requests the canary would
    serve."""
    svc = Service(resolved)
    spec: Any = svc.spec
    strategy = spec["strategy"]
    kind = str(strategy["type"])
    if kind == "fluxRollback":
        return _release_plan(svc, request_rate)
    setting = str(strategy["interval"])
    interval = schedule_interval(strategy)
    threshold = int(strategy.get("threshold") or 1)
    hooks = webhooks(svc)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for hook in hooks:
        by_type.setdefault(hook["type"], []).append(hook)

    def called(*types: str) -> tuple[tuple[str, ...], float]:
        chosen = [h for t in types for h in by_type.get(t, [])]
        return tuple(f"{h['type']} {h['name']}" for h in chosen), sum(_timeout(h) for h in chosen)

    table = rows(strategy)
    peak = max(row.weight for row in table)
    ticks, at, worst_at = [], 0.0, 0.0
    for n, (phase, weight, does, types) in enumerate(table):
        names, worst = called(*types)
        ticks.append(Tick(n, at, phase, weight, does, names, worst))
        at += interval
        worst_at += max(1, math.ceil(worst / interval)) * interval if n < len(table) - 1 else 0
    promotion = ticks[-1].at
    worst_promotion = worst_at
    exposure = sum(t.weight for t in ticks[:-1]) * interval / 60  # weight held for one interval after each tick
    worst_detection, window_name, window = detection(spec)
    workload = spec["workload"]
    autoscaling = workload.get("autoscaling")
    replicas = int(autoscaling["minReplicas"]) if autoscaling else int(workload.get("replicas") or 1)
    pod_minutes = replicas * promotion / 60
    gates = tuple(Gate(h["type"], h["name"], h["url"], _timeout(h), h["type"] in GATE_TYPES) for h in hooks)
    linear = kind == "canary" and bool(strategy.get("stepWeight"))
    steps = ("stepWeight/maxWeight" if linear else "steps") if kind == "canary" else "iterations"
    figures = (
        Figure("interval", interval, "s", f"strategy.interval {setting}" + (" (raised to Flagger's minimum 10s)"
                                                                            if seconds(setting) < MIN_INTERVAL
                                                                            else "")),
        Figure("time to promotion", promotion, "s", f"{len(table) - 1} ticks x interval from the tick that detects "
               f"the revision (itself up to one interval after the apply): strategy.{steps}, strategy.interval"),
        Figure("time to promotion, webhooks at their timeouts", worst_promotion, "s",
               "the webhooks' timeouts (a tick longer than the interval delays the next)"),
        Figure("time to rollback after the first failed check", threshold * interval, "s",
               "strategy.threshold x strategy.interval"),
        Figure("worst case from the first bad request to rollback", worst_detection, "s",
               "strategy.threshold, strategy.interval, "
               + (f"the longest metric window ({window_name} {duration(window)})" if window else "no metric window")
               + f", the {duration(SCRAPE_INTERVAL)} scrape interval"),
        Figure("peak canary weight", float(peak), "%", f"strategy.{steps if kind == 'canary' else 'type'}"
               + (" (of the requests strategy.match selects)" if kind == "abTest" else "")),
        Figure("exposure", exposure, "%·min", "the weights held, each for one interval"),
        *((Figure("requests exposed", exposure / 100 * 60 * request_rate, "requests",
                  f"the exposure x the primary's {request_rate:.4g} requests/s over the last {RATE_WINDOW} "
                  "(Prometheus)" + (", of which only those strategy.match selects" if kind == "abTest" else "")),)
          if request_rate is not None and not math.isnan(request_rate) else ()),
        Figure("extra pods", pod_minutes, "pod·min",
               f"{replicas} canary replicas ({'autoscaling.minReplicas' if autoscaling else 'workload.replicas'})"
               " for the time to promotion"),
        Figure("progress deadline", seconds(str(strategy["progressDeadline"])), "s",
               "strategy.progressDeadline: a canary not ready within it is rolled back at once"),
    )
    waiting = [f"{g.type} {g.name}" for g in gates if g.waits]
    notes: tuple[str, ...] = (f"may wait until approved (counted as passing at once): {', '.join(waiting)}",
                              ) if waiting else ()
    if request_rate is not None and math.isnan(request_rate):
        notes += (f"requests exposed: Prometheus has no requests of {svc.name}-primary in {svc.namespace} over the "
                  f"last {RATE_WINDOW}",)
    over = overshoot(strategy)
    if over:
        notes += (f"the last step, {over}%, overshoots maxWeight {max_weight(strategy)}%: Flagger adds stepWeight "
                  f"{strategy['stepWeight']} while the weight is below maxWeight (a stepWeight that divides "
                  "maxWeight ends on it)",)
    return Plan(svc.name, svc.environment, kind, interval, tuple(ticks), gates, figures, notes)


def _release_plan(svc: Service, request_rate: float | None) -> Plan:
    """fluxRollback: the helm-controller's upgrade, tests and, on a failure, rollback (the module's docstring)."""
    spec: Any = svc.spec
    strategy = spec["strategy"]
    timeout = seconds(str(strategy["releaseTimeout"]))
    tests = list(spec["workload"]["chart"].get("tests") or []) if "chart" in spec["workload"] else []
    retries = int(strategy["retries"])
    worst = release_rollback(spec)
    each = f"each up to strategy.releaseTimeout {strategy['releaseTimeout']}"
    ticks = (
        Tick(0, 0.0, "Upgrading", 100, "helm upgrade: the new version replaces the old one, pod by pod; ready "
             f"within releaseTimeout {duration(timeout)} or the upgrade fails", (), timeout),
        *(Tick(i, i * timeout, "Testing", 100, f"helm test {name}: it must pass within releaseTimeout "
               f"{duration(timeout)}", (f"test {name}",), timeout) for i, name in enumerate(tests, start=1)),
        Tick(len(tests) + 1, worst, "Released", 100, "every test passed: the release stays; a failed upgrade or test "
             "rolls back to the last good release instead", (), 0.0),
    )
    exposure = 100 * worst / 60 * (1 + retries)
    figures = (
        Figure("release timeout", timeout, "s", "strategy.releaseTimeout (HelmRelease spec.timeout): the upgrade's "
               "wait for ready, each Helm test, the rollback"),
        Figure("worst case from the first bad request to rollback", worst, "s",
               f"the upgrade and {len(tests)} Helm test(s), {each} (workload.chart.tests)"),
        Figure("releases of a bad version", float(1 + retries), "x",
               "1 + strategy.retries: each retry releases the same version again after its rollback"),
        Figure("peak weight of the new version", 100.0, "%", "strategy.type fluxRollback: all traffic, no canary"),
        Figure("exposure", exposure, "%·min", "all traffic, for the worst case to rollback, each release"),
        *((Figure("requests exposed", exposure / 100 * 60 * request_rate, "requests",
                  f"the exposure x the service's {request_rate:.4g} requests/s over the last {RATE_WINDOW} "
                  "(Prometheus)"),) if request_rate is not None and not math.isnan(request_rate) else ()),
    )
    notes: tuple[str, ...] = ("a version that is ready and passes its tests stays: nothing checks its live "
                              "metrics (a Flagger strategy does)",)
    if not tests:
        notes += ("workload.chart.tests names no test: helm-controller passes a chart without tests, so only a "
                  "release that is not ready in time is rolled back",)
    if request_rate is not None and math.isnan(request_rate):
        notes += (f"requests exposed: Prometheus has no requests of {svc.name} in {svc.namespace} over the last "
                  f"{RATE_WINDOW}",)
    return Plan(svc.name, svc.environment, "fluxRollback", timeout, ticks, (), figures, notes)


# -- output --------------------------------------------------------------------------------------------------------


def _time(value: float) -> str:
    return duration(value) if value else "0s"


def shown(value: float, unit: str) -> str:
    """A figure's value as the outputs print it."""
    if unit == "s":
        return _time(value)
    if unit == "%":
        return f"{value:g}%"
    if unit == "requests":
        return f"{round(value):,} requests"
    if unit == "x":
        return f"{value:g}x"
    return f"{value:g} {unit}"


def _value(figure: Figure) -> str:
    return shown(figure.value, figure.unit)


def text(plans: list[Plan]) -> str:
    out: list[str] = []
    for p in plans:
        flux = p.strategy == "fluxRollback"
        out.append(f"{p.service} in {p.environment}: {p.strategy}, " + (
            f"Flux alone, each Helm operation up to {duration(p.interval)}" if flux
            else f"one tick every {duration(p.interval)}"))
        out.append(f"  {'step' if flux else 'tick':>4}  {'at most' if flux else 'at':>8}  {'phase':<11} {'weight':>6}"
                   "  what happens")
        for t in p.ticks:
            out.append(f"  {t.tick:>4}  {_time(t.at):>8}  {t.phase:<11} {t.weight:>5}%  {t.does}")
        for f in p.figures:
            out.append(f"  {f.name}: {_value(f)} ({f.driven_by})")
        out.append("  gates, in order:" if p.gates or not flux else "  gates: none (no Flagger)")
        for g in p.gates:
            out.append(f"    {g.type} {g.name} (timeout {duration(g.timeout)}{', may wait' if g.waits else ''})")
        out.extend(f"  note: {n}" for n in p.notes)
        out.append("")
    return "\n".join(out)


def markdown(plans: list[Plan]) -> str:
    out: list[str] = []
    for p in plans:
        out.append(f"### {p.service} in {p.environment} ({p.strategy})\n")
        out.append("| figure | value | driven by |\n| --- | --- | --- |")
        out.extend(f"| {f.name} | {_value(f)} | {f.driven_by} |" for f in p.figures)
        head = "| step | at most |" if p.strategy == "fluxRollback" else "| tick | at |"
        out.append(f"\n{head} phase | weight | what happens |\n| ---: | ---: | --- | ---: | --- |")
        out.extend(f"| {t.tick} | {_time(t.at)} | {t.phase} | {t.weight}% | {t.does} |" for t in p.ticks)
        out.extend(f"\n> {n}" for n in p.notes)
        out.append("")
    return "\n".join(out)


__all__ = ["RATE_WINDOW", "Figure", "Gate", "Plan", "Tick", "markdown", "plan", "request_rate_query", "shown", "text"]
