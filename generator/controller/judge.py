"""The canary judge of the ``rollout`` hook: per metric, the canary against the primary over the analysis window.

For each metric in ``judge.metrics`` the same PromQL is run as a range query for the canary and for the primary
(``step`` = window / 20, at least 1 s), and the two samples are compared with a Mann-Whitney U test
(:mod:`.mannwhitney`). A metric fails when the difference is both significant (p < 1 - ``confidence``, default
0.98 as in Kayenta) and larger than ``allowedChange`` (relative to the primary's median, default 0.25) in the
direction that is worse (``increase``: higher is worse, ``decrease``: lower is worse, ``either``). The two
conditions together keep a tiny but significant shift (common with many samples) from failing a canary.

Scoring follows Kayenta's NetflixACAJudge: a group's score is the weighted share of its judged metrics that pass,
times 100; the summary is the mean of the group scores weighted by ``judge.groups[group]`` (default: the sum of the
group's metric weights). Pass when the score >= ``pass``; Marginal when >= ``marginal`` (allowed: the canary
advances, and the reason says it is marginal, so Flagger's event shows it); else Fail (denied). A failing
``critical`` metric forces the score to 0.

No data (a query with no finite sample for the canary or the primary) follows ``noData``:
``pass`` counts the metric as passed; ``fail`` counts it as failed (a critical one fails the canary, and half the
metrics or more without data force Fail, as Kayenta does); ``hold`` denies the tick with "holding: no data for ..."
whatever the score: Flagger's rollout hook has no way to wait without counting a failed check, so after
``threshold`` such ticks the canary rolls back; unlike ``fail``, every metric must have data to advance.

Below ``minRequests`` canary requests in the window (Linkerd's ``response_total``, inbound), the judge does not
judge: it allows with class NoData and says "not enough traffic: N requests in 5m, need 50". A low-traffic canary
is not evidence of a bad one (flagger#361, Kayenta); the other gates (probes, the error budget at promotion)
still apply. Prometheus failing is different: the judge cannot decide and denies with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from ..durations import seconds
from .decision import Call, Input, Verdict
from .mannwhitney import Alternative, mann_whitney_u, median
from .prom import Prometheus, PrometheusError, finite, gather_all, label_value, prom_duration, substitute

CHECK = "judge"
DEFAULT_CONFIDENCE = 0.98
DEFAULT_ALLOWED_CHANGE = 0.25
STEPS_PER_WINDOW = 20
ALTERNATIVE: dict[str, Alternative] = {"increase": "greater", "decrease": "less", "either": "two-sided"}


@dataclass(frozen=True)
class MetricResult:
    """One metric's judgement. ``outcome``: pass, high (canary worse by being higher), low, or nodata."""

    name: str
    group: str
    weight: float
    critical: bool
    query: str
    outcome: str
    canary: float | None = None
    primary: float | None = None
    p: float | None = None
    canary_samples: int = 0
    primary_samples: int = 0
    change: float | None = None
    reason: str = ""
    primary_query: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "group": self.group, "weight": self.weight, "critical": self.critical,
                "query": self.query, "primaryQuery": self.primary_query, "outcome": self.outcome,
                "canary": json_number(self.canary), "primary": json_number(self.primary), "p": json_number(self.p),
                "canarySamples": self.canary_samples, "primarySamples": self.primary_samples,
                "change": json_number(self.change), "reason": self.reason}


async def check_judge(call: Call, prom: Prometheus) -> Verdict:
    """The judge's verdict for one ``rollout`` call (``call.service["judge"]`` and ``["targets"]``)."""
    judge, targets = call.service.get("judge"), call.service.get("targets")
    if not judge:
        return Verdict.ok(CHECK, "no judge configured")
    try:
        if not isinstance(targets, dict) or not isinstance(judge, dict):
            raise ValueError("the service has no targets")
        window = prom_duration(judge["window"])
        end = call.now.timestamp()
        requests_query = canary_requests_query(targets, window)
        requests = await count(prom, requests_query, end)
        needed = int(judge.get("minRequests", 0))
        traffic = Input("canary requests", requests_query, window, requests, f">= {needed}", round(requests),
                        requests >= needed)
        if requests < needed:
            reason = f"not enough traffic: {round(requests)} requests in {window}, need {needed}"
            return Verdict.ok(CHECK, reason, (traffic,), score=None, **{"class": "NoData"})
        results = await gather_all(*(judge_metric(prom, metric, targets, window, end, judge)
                                         for metric in judge["metrics"]))
    except PrometheusError as error:
        return Verdict.deny(CHECK, f"judge cannot decide: {error.reason}")
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        return Verdict.deny(CHECK, f"judge cannot decide: bad judge configuration ({type(error).__name__}: {error})")
    return verdict(list(results), judge, window, traffic)


def canary_requests_query(targets: dict[str, str], window: str) -> str:
    return (f'sum(increase(response_total{{namespace="{label_value(targets["namespace"])}", '
            f'deployment="{label_value(targets["canary"])}", direction="inbound"}}[{window}]))')


async def count(prom: Prometheus, promql: str, at: float) -> float:
    """An instant query's single value; an empty answer (no series yet) is 0, NaN is 0."""
    samples = await prom.query(promql, at)
    values = finite([s.value for s in samples])
    return sum(values) if values else 0.0


def metric_query(template: str, deployment: str, namespace: str, window: str, step: float) -> str:
    """The metric's PromQL for one deployment. ``{{ target }}`` and ``{{ interval }}`` are Flagger's names for
    ``{{ deployment }}`` and ``{{ window }}``, so a MetricTemplate's query can be reused as it is."""
    values = {"deployment": label_value(deployment), "namespace": label_value(namespace), "window": window,
              "step": f"{max(1, round(step))}s"}
    values |= {"target": values["deployment"], "interval": window}
    return substitute(template, values)


async def judge_metric(prom: Prometheus, metric: dict[str, Any], targets: dict[str, str], window: str, end: float,
                       judge: dict[str, Any]) -> MetricResult:
    """Query both sides over the window and compare them."""
    span = seconds(window)
    step = max(1.0, span / STEPS_PER_WINDOW)
    start = end - span
    canary_query = metric_query(metric["query"], targets["canary"], targets["namespace"], window, step)
    primary_query = metric_query(metric["query"], targets["primary"], targets["namespace"], window, step)
    canary_series, primary_series = await gather_all(prom.query_range(canary_query, start, end, step),
                                                         prom.query_range(primary_query, start, end, step))
    canary = finite([v for s in canary_series for v in s.values])
    primary = finite([v for s in primary_series for v in s.values])
    base = MetricResult(str(metric["name"]), str(metric.get("group", "default")), float(metric.get("weight", 1)),
                        bool(metric.get("critical", False)), canary_query, "nodata",
                        canary_samples=len(canary), primary_samples=len(primary), primary_query=primary_query)
    if not canary or not primary:
        side = "canary and primary" if not canary and not primary else "canary" if not canary else "primary"
        return _replace(base, reason=f"{base.name}: no data for the {side} in {window}")
    return compare(base, canary, primary, str(metric.get("direction", "either")),
                   float(metric.get("allowedChange", DEFAULT_ALLOWED_CHANGE)),
                   1 - float(judge.get("confidence", DEFAULT_CONFIDENCE)))


def compare(base: MetricResult, canary: list[float], primary: list[float], direction: str, allowed: float,
            alpha: float) -> MetricResult:
    """The Mann-Whitney test plus the effect-size tolerance, in the direction that is worse."""
    if direction not in ALTERNATIVE:
        raise ValueError(f"metric {base.name}: direction {direction!r} is not increase, decrease or either")
    test = mann_whitney_u(canary, primary, ALTERNATIVE[direction])
    mc, mp = median(canary), median(primary)
    change = relative_change(mc, mp)
    significant = test.p < alpha
    higher = significant and change > allowed and direction in ("increase", "either")
    lower = significant and change < -allowed and direction in ("decrease", "either")
    outcome = "high" if higher else "low" if lower else "pass"
    said = (f"{base.name}: canary {_num(mc)} vs primary {_num(mp)} ({_percent(change)}, p={test.p:.2g}, "
            f"n={len(canary)}/{len(primary)})")
    if outcome == "high":
        said += f": higher than the primary beyond {allowed:.0%}"
    elif outcome == "low":
        said += f": lower than the primary beyond {allowed:.0%}"
    return _replace(base, outcome=outcome, canary=mc, primary=mp, p=test.p, change=change, reason=said)


def relative_change(canary: float, primary: float) -> float:
    """(canary - primary) / |primary|; a primary of 0 makes any change infinite (a canary with errors where the
    primary has none is flagged, Kayenta#799)."""
    if canary == primary:
        return 0.0
    if primary == 0 or math.isinf(primary):
        return math.copysign(math.inf, canary - primary)
    return (canary - primary) / abs(primary)


def verdict(results: list[MetricResult], judge: dict[str, Any], window: str, traffic: Input) -> Verdict:
    """Score the metrics and decide (see the module's docstring for the rules)."""
    policy = str(judge.get("noData", "hold"))
    if policy not in ("pass", "fail", "hold"):
        raise ValueError(f"noData {policy!r} is not pass, fail or hold")
    inputs = (traffic, *(_input(r, window, policy) for r in results))
    nodata = [r for r in results if r.outcome == "nodata"]
    score, groups = weighted_score(results, policy, judge.get("groups") or {})
    failed_critical = [r for r in results if r.critical and _failed(r, policy)]
    extra: dict[str, Any] = {"groups": groups, "metrics": [r.as_dict() for r in results]}
    if nodata and policy == "hold":
        names = ", ".join(r.name for r in nodata)
        return Verdict.deny(CHECK, f"holding: no data for {names} in {window} (noData: hold)", inputs,
                            score=score, **{"class": "NoData"}, **extra)
    if failed_critical:
        return Verdict.deny(CHECK, f"critical metric failed: {failed_critical[0].reason}", inputs,
                            score=0.0, **{"class": "Fail"}, **extra)
    if policy == "fail" and results and len(nodata) * 2 >= len(results):
        return Verdict.deny(CHECK, f"no data for {len(nodata)} of {len(results)} metrics (noData: fail)", inputs,
                            score=0.0, **{"class": "Fail"}, **extra)
    passing, marginal = float(judge.get("pass", 80)), float(judge.get("marginal", 60))
    failures = "; ".join(r.reason for r in results if _failed(r, policy))
    summary = f"score {score:.0f} (pass {passing:g}, marginal {marginal:g})"
    if score >= passing:
        return Verdict.ok(CHECK, f"canary passed: {summary}", inputs, score=score, **{"class": "Pass"}, **extra)
    if score >= marginal:
        return Verdict.ok(CHECK, f"canary marginal: {summary}; {failures}", inputs, score=score,
                          **{"class": "Marginal"}, **extra)
    return Verdict.deny(CHECK, f"canary failed: {summary}; {failures}", inputs, score=score,
                        **{"class": "Fail"}, **extra)


def weighted_score(results: list[MetricResult], policy: str,
                   group_weights: dict[str, float]) -> tuple[float, dict[str, float]]:
    """Group score = weighted pass share of its metrics x 100; summary = mean of group scores weighted by
    ``group_weights[group]`` (default: the group's total metric weight). Metrics without data count as passed
    (noData pass) or failed (fail, hold)."""
    groups: dict[str, list[MetricResult]] = {}
    for result in results:
        groups.setdefault(result.group, []).append(result)
    scores: dict[str, float] = {}
    weights: dict[str, float] = {}
    for name, members in sorted(groups.items()):
        total = sum(m.weight for m in members)
        if total <= 0:
            continue
        scores[name] = 100 * sum(m.weight for m in members if not _failed(m, policy)) / total
        weights[name] = float(group_weights.get(name, total))
    if not scores:
        return 100.0, scores
    score = sum(scores[g] * weights[g] for g in scores) / sum(weights.values())
    return score, scores


def _failed(result: MetricResult, policy: str) -> bool:
    if result.outcome == "nodata":
        return policy != "pass"
    return result.outcome != "pass"


def _input(result: MetricResult, window: str, policy: str) -> Input:
    detail = result.reason
    if result.outcome != "nodata":
        detail += f"; primary median {_num(result.primary)}, {result.primary_samples} primary samples"
    detail += f"; primary query: {result.primary_query}"
    value = result.canary if result.canary is not None and math.isfinite(result.canary) else None
    return Input(result.name, result.query, window, value, _threshold(result), result.canary_samples,
                 not _failed(result, policy), detail)


def _threshold(result: MetricResult) -> str:
    return f"{result.group}, weight {result.weight:g}" + (", critical" if result.critical else "")


def _replace(base: MetricResult, **changes: Any) -> MetricResult:
    return replace(base, **changes)


def json_number(value: float | None) -> float | str | None:
    """Evidence is strict JSON (no NaN, no Infinity): a non-finite number is written as Prometheus writes it."""
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else "+Inf" if value > 0 else "-Inf"


def _num(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"


def _percent(change: float) -> str:
    if math.isinf(change):
        return "+inf%" if change > 0 else "-inf%"
    return f"{change:+.1%}"
