"""How often a service's analysis would have aborted a healthy release: Flagger's checks replayed over recorded
history (``rollouts backtest``).

For one service in one environment, every metric the render gives its Canary (the SLO's and the spec's own
MetricTemplates, with their thresholdRange) is evaluated at every analysis interval over the range, with Flagger's
template variables filled in as it fills them (fluxcd/flagger pkg/controller/scheduler_metrics.go toMetricModel):
``{{ namespace }}``, ``{{ interval }}`` (the metric's window), ``{{ variables.x }}``, and ``{{ target }}`` as the
*primary's* workload (``<name>-primary``: the history is the primary's, the canary's pods do not exist yet). The
values come from the Prometheus HTTP API's ``query_range`` with the interval as step, in requests of at most
10,000 steps.

A rollout is simulated from every tick of the range as Flagger's scheduler runs it (pkg/controller/scheduler.go):
tick 1 runs the pre-rollout hooks and no metrics; from tick 2 each tick runs every metric; a tick where any metric
fails, or has no value (Flagger's ErrNoValuesFound: empty or NaN), adds one failed check and repeats the step;
failed checks add up within the rollout; the rollout is rolled back once they reach ``strategy.threshold`` and
promoted after as many passing ticks as its schedule analyses (steps for a canary, iterations, plus one for
blue/green). So a rollout started at tick s is rolled back exactly when its first A + T - 1 analysis ticks hold T
failures (A analyses, T threshold): one sliding window, counted with numpy.

Reported: the false-abort rate over the rollouts that lie wholly inside the healthy windows (default: the whole
range but the incidents); each metric's failing and no-data ticks and its no-data windows; for each incident, the
delay from its start to the rollback of a rollout whose canary got its first traffic then; per metric bound, the
tightest value that keeps false aborts within the target (computed exactly: for each rollout, the bound at which it
would abort), and the lowest strategy.threshold that does, with what it changes in the plan.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from .durations import duration
from .findings import Finding, error
from .prometheus import MAX_POINTS, Prometheus, QueryError
from .render.builders.metrics import checks
from .render.model import Service
from .render.plan import plan, shown
from .schedule import interval as schedule_interval
from .schedule import rows
from .spec.load import Spec, parse

DEFAULT_TARGET = 2.0  # percent of healthy rollouts a threshold may abort
MAX_THRESHOLD = 10  # the highest strategy.threshold the suggestion tries
WORKERS = 4  # query_range requests in flight
_VARIABLE = re.compile(r"\{\{\s*(\w+)(?:\.(\w+))?\s*\}\}")
_FIELDS = ("name", "namespace", "target", "service", "ingress", "route", "interval")


@dataclass(frozen=True)
class Window:
    start: float  # unix seconds
    end: float


@dataclass(frozen=True)
class Metric:
    """One analysis metric as the backtest runs it."""

    name: str
    query: str  # with the template's variables filled in, for the primary's history
    min: float | None
    max: float | None
    origin: tuple[str | int, ...]  # the spec path it comes from


@dataclass(frozen=True)
class Suggestion:
    setting: str  # the spec field, such as slo.successRate, metrics[queue-lag].max, strategy.threshold
    current: float
    suggested: float
    false_aborts: tuple[float, float]  # percent, now -> with the suggestion
    plan: tuple[str, ...]  # what it changes in the plan ("figure: before -> after")


@dataclass(frozen=True)
class MetricResult:
    name: str
    bound: str  # "min 99", "max 500", "min 1, max 9"
    failing: int  # ticks outside the bound
    no_data: int  # ticks without a value
    no_data_windows: tuple[Window, ...]  # first to last tick of each run of no-data ticks


@dataclass(frozen=True)
class IncidentResult:
    window: Window
    delay: float | None  # seconds from its start to the rollback; None: not rolled back
    outcome: str


@dataclass(frozen=True)
class Result:
    service: str
    environment: str
    start: float
    interval: float
    ticks: int
    threshold: int
    analyses: int  # passing analysis ticks a rollout needs to be promoted
    rollouts: int  # simulated on healthy history
    aborted: int
    outside: int  # rollouts not counted: outside the healthy windows or running past the range's end
    target: float
    metrics: tuple[MetricResult, ...]
    incidents: tuple[IncidentResult, ...]
    suggestions: tuple[Suggestion, ...]
    worst_case: float  # the plan's worst case from the first bad request to the rollback

    @property
    def false_abort_rate(self) -> float:
        return 100 * self.aborted / self.rollouts if self.rollouts else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "false_abort_rate": self.false_abort_rate}


@dataclass(frozen=True)
class Target:
    """One service in one environment: what to ask Prometheus, and how to judge the answers."""

    spec: Spec
    resolved: Any
    service: Service
    metrics: tuple[Metric, ...]


def parse_time(text: str, now: float) -> float:
    """RFC 3339 (2026-11-01T00:00:00Z), unix seconds, ``now``, or ``now-30d`` / ``-12h`` (d, h, m, s)."""
    value = text.strip()
    relative = re.fullmatch(r"(?:now)?-(\d+)([dhms])", value)
    if value == "now":
        return now
    if relative:
        return now - int(relative.group(1)) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[relative.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a time: write 2026-11-01T00:00:00Z, unix seconds, now or now-30d") \
            from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def parse_window(text: str, now: float) -> Window:
    """FROM/TO, each as parse_time reads it."""
    start, sep, end = text.partition("/")
    if not sep:
        raise ValueError(f"{text!r} is not a window: write FROM/TO, such as 2026-11-03T10:00Z/2026-11-03T11:00Z")
    window = Window(parse_time(start, now), parse_time(end, now))
    if window.end <= window.start:
        raise ValueError(f"{text!r}: the window ends before it starts")
    return window


def stamp(seconds: float) -> str:
    """Unix seconds as RFC 3339 in UTC, as the outputs print times."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_query(query: str, model: dict[str, str], variables: dict[str, str]) -> str:
    """A MetricTemplate's query with Flagger's template functions filled in (missingkey=error, as Flagger)."""

    def fill(match: re.Match[str]) -> str:
        function, key = match.group(1), match.group(2)
        if function == "variables" and key is not None:
            if key not in variables:
                raise KeyError(f"the query uses {{{{ variables.{key} }}}}, which the metric does not set")
            return variables[key]
        if function in _FIELDS and key is None:
            return model[function]
        raise KeyError(f"the query uses {match.group(0)}, which is not one of Flagger's template functions")

    return _VARIABLE.sub(fill, query)


def target(spec: Spec, resolved: Any) -> tuple[Target | None, list[Finding]]:
    """The metrics of one resolved spec, or the findings of a query the backtest cannot fill in; neither for a
    fluxRollback spec (Flux alone: no Flagger analysis to replay)."""
    svc = Service(resolved)
    if resolved["spec"]["strategy"]["type"] == "fluxRollback":
        return None, []
    model = {"name": svc.name, "namespace": svc.namespace, "target": f"{svc.name}-primary", "service": svc.name,
             "ingress": svc.name, "route": svc.name}
    metrics, findings = [], []
    for check in svc.part(checks):
        analysis, template = check.analysis, check.template
        try:
            query = render_query(str(template["query"]), {**model, "interval": str(analysis["interval"])},
                                 dict(analysis.get("variables") or {}))
        except KeyError as e:
            findings.append(_finding(spec, analysis["origin"], f"metric {analysis['name']}: {e.args[0]}",
                                     "Use {{ namespace }}, {{ target }}, {{ interval }} or {{ variables.<name> }} "
                                     "with the name under the metric's variables."))
            continue
        bounds = analysis.get("thresholdRange") or {}
        metrics.append(Metric(str(analysis["name"]), query, bounds.get("min"), bounds.get("max"),
                              tuple(analysis["origin"])))
    return (None if findings else Target(spec, resolved, svc, tuple(metrics))), findings


def _finding(spec: Spec, origin: Iterable[str | int], message: str, hint: str) -> Finding:
    """An error at the metric's query (the spec's own metrics) or its SLO field."""
    path = tuple(origin)
    if path[:2] == ("spec", "metrics"):
        path += ("query",)
    located = spec if hasattr(spec.data, "lc") else parse(spec.text.encode(), spec.file)[0] or spec
    line, column = located.position(path)
    return error("backtest-query", spec.file, line, column, message, hint)


# -- the simulation ------------------------------------------------------------------------------------------------


def analyses(strategy: Any) -> int:
    """The passing analysis ticks a rollout needs before it is promoted (the schedule's "analysis" ticks)."""
    return sum(1 for row in rows(strategy) if row.does.startswith("analysis"))


def _starts(ok: np.ndarray, span: int) -> np.ndarray:
    """The ticks a rollout can start at so that its ``span`` ticks all lie where ``ok`` holds."""
    if len(ok) < span:
        return np.zeros(0, dtype=np.int64)
    bad = np.concatenate(([0], np.cumsum(~ok)))
    first = np.arange(len(ok) - span + 1)
    chosen: np.ndarray = first[bad[first + span] - bad[first] == 0]
    return chosen


def _aborted(fail: np.ndarray, starts: np.ndarray, needed: int, threshold: int) -> int:
    """How many of the rollouts started at ``starts`` reach ``threshold`` failed checks before ``needed`` passes."""
    window = needed + threshold - 1
    total = np.concatenate(([0], np.cumsum(fail)))
    return int(np.count_nonzero(total[starts + 2 + window] - total[starts + 2] >= threshold))


def _fails(metric: Metric, values: np.ndarray) -> np.ndarray:
    """The ticks where the metric fails a check: no value, or outside its bound."""
    out: np.ndarray = np.isnan(values)
    with np.errstate(invalid="ignore"):
        if metric.min is not None:
            out |= values < metric.min
        if metric.max is not None:
            out |= values > metric.max
    return out


def _tightest(values: np.ndarray, fixed: np.ndarray, starts: np.ndarray, needed: int, threshold: int,
              side: str, allowed: int) -> float | None:
    """The tightest bound (side "min" or "max") under which at most ``allowed`` of the rollouts abort, the other
    causes of failure (``fixed``: other metrics, no data, the other bound) as they are. For each rollout, with k
    fixed failures among its first A + T - 1 analysis ticks, it aborts iff T - k of its other ticks fall outside the
    bound: for "max" iff its (T - k)-th largest value is above it. None: the other causes alone abort too many."""
    window = needed + threshold - 1
    at = starts[:, None] + 2 + np.arange(window)
    held, cannot = values[at], fixed[at] | np.isnan(values[at])
    k = cannot.sum(axis=1)
    depends = k < threshold  # the others: aborted whatever the bound
    room = allowed - int(np.count_nonzero(~depends))
    if room < 0:
        return None
    rank = (threshold - k[depends] - 1)[:, None]
    if side == "max":
        ordered = -np.sort(np.where(cannot[depends], np.inf, -held[depends]), axis=1)  # descending
        critical = np.sort(np.take_along_axis(ordered, rank, axis=1)[:, 0])[::-1]
    else:
        ordered = np.sort(np.where(cannot[depends], np.inf, held[depends]), axis=1)
        critical = np.sort(np.take_along_axis(ordered, rank, axis=1)[:, 0])
    if room >= len(critical):
        return None if not len(critical) else float(critical[-1])
    return float(critical[room])


def _delay(fail: np.ndarray, first: int, needed: int, threshold: int) -> tuple[int | None, str]:
    """Ticks from ``first`` (the canary's first traffic) to the rollback, and what happened."""
    failed = passed = 0
    for j in range(first + 1, len(fail)):
        if fail[j]:
            failed += 1
            if failed == threshold:
                if j + 1 >= len(fail):
                    break
                return j + 1 - first, "rolled back"
        else:
            passed += 1
            if passed == needed:
                return None, f"not detected: promoted after {j - first} ticks with {failed} failed checks"
    return None, "undetermined: the range ends first"


def fetch(targets: list[Target], prometheus: Prometheus, start: float, end: float,
          progress: Callable[[int, int], None] | None = None) -> tuple[dict[tuple[int, int], np.ndarray],
                                                                          dict[tuple[int, int], str]]:
    """Every metric's values at every interval over [start, end]: (target, metric) -> array, NaN for no value;
    and the queries Prometheus refused: (target, metric) -> its message."""
    jobs = []
    for t, item in enumerate(targets):
        step = schedule_interval(item.resolved["spec"]["strategy"])
        count = int((end - start) // step) + 1
        for m in range(len(item.metrics)):
            for first in range(0, count, MAX_POINTS):
                jobs.append((t, m, step, first, min(MAX_POINTS, count - first), count))
    values = {(t, m): np.full(count, np.nan) for t, m, _, _, _, count in jobs}
    refused: dict[tuple[int, int], str] = {}

    def run(job: tuple[int, int, float, int, int, int]) -> tuple[tuple[int, int, float, int, int, int], Any]:
        t, m, step, first, size, _ = job
        try:
            return job, prometheus.query_range(targets[t].metrics[m].query, start + first * step, step, size)
        except QueryError as e:
            return job, e

    done = 0
    with ThreadPoolExecutor(WORKERS) as pool:
        for (t, m, _, first, size, _), answer in pool.map(run, jobs):
            if isinstance(answer, QueryError):
                refused.setdefault((t, m), str(answer))
            else:
                values[(t, m)][first:first + size] = answer
            done += 1
            if progress:
                progress(done, len(jobs))
    return values, refused


@dataclass(frozen=True)
class _Run:
    """What one service's simulation shares: its ticks' times, where history is healthy, its schedule."""

    start: float
    step: float
    healthy: np.ndarray
    needed: int  # passing analyses to promote
    threshold: int

    def starts(self, threshold: int) -> np.ndarray:
        return _starts(self.healthy, 2 + self.needed + threshold - 1)

    def rate(self, fail: np.ndarray, threshold: int | None = None) -> float:
        """Percent of the healthy rollouts that ``fail`` aborts."""
        limit = threshold or self.threshold
        starts = self.starts(limit)
        return 100 * _aborted(fail, starts, self.needed, limit) / len(starts) if len(starts) else 0.0

    def delay(self, fail: np.ndarray, incident: Window) -> tuple[float | None, str]:
        """Seconds from the incident's start to the rollback of a rollout whose canary got its first traffic at
        the first tick from then, and what happened."""
        first = max(0, math.ceil((incident.start - self.start) / self.step - 1e-9))
        ticks, outcome = _delay(fail, first, self.needed, self.threshold)
        return (None if ticks is None else self.start + (first + ticks) * self.step - incident.start), outcome


def judge(item: Target, values: list[np.ndarray], start: float, end: float, healthy: list[Window],
          incidents: list[Window], target_rate: float = DEFAULT_TARGET) -> Result:
    """The backtest of one service in one environment from its metrics' values (one array per metric)."""
    strategy = item.resolved["spec"]["strategy"]
    step = schedule_interval(strategy)
    count = int((end - start) // step) + 1
    times = start + step * np.arange(count)
    ok = np.zeros(count, dtype=bool) if healthy else np.ones(count, dtype=bool)
    for w in healthy:
        ok |= (times >= w.start) & (times <= w.end)
    for w in incidents:
        ok &= ~((times >= w.start) & (times <= w.end))
    run = _Run(start, step, ok, analyses(strategy), int(strategy.get("threshold") or 1))
    fails = [_fails(metric, v) for metric, v in zip(item.metrics, values, strict=True)]
    fail = np.logical_or.reduce(fails) if fails else np.zeros(count, dtype=bool)
    starts = run.starts(run.threshold)
    aborted = _aborted(fail, starts, run.needed, run.threshold)
    allowed = math.floor(target_rate / 100 * len(starts) + 1e-9)

    metrics: list[MetricResult] = []
    suggestions: list[Suggestion] = []
    for i, (metric, v) in enumerate(zip(item.metrics, values, strict=True)):
        nodata = np.isnan(v)
        bounds = [f"{side} {value:g}" for side, value in (("min", metric.min), ("max", metric.max))
                  if value is not None]
        metrics.append(MetricResult(metric.name, ", ".join(bounds) or "none", int(np.count_nonzero(fails[i] & ~nodata)),
                                    int(np.count_nonzero(nodata)), tuple(_runs(nodata, times))))
        others = np.logical_or.reduce([f for j, f in enumerate(fails) if j != i] or [np.zeros(count, dtype=bool)])
        if len(starts):
            suggestions += _bound_suggestions(run, metric, v, others, fail, starts, allowed, incidents)

    lowest = next((t for t in range(1, MAX_THRESHOLD + 1) if len(run.starts(t)) and run.rate(fail, t) <= target_rate),
                  None)
    if lowest is not None and lowest != run.threshold:
        suggestions.append(Suggestion("strategy.threshold", float(run.threshold), float(lowest),
                                      (run.rate(fail), run.rate(fail, lowest)),
                                      tuple(_plan_changes(item.resolved, lowest))))
    found = tuple(IncidentResult(w, *run.delay(fail, w)) for w in incidents)
    possible = max(0, count - (2 + run.needed + run.threshold - 1) + 1)
    return Result(item.service.name, item.service.environment, start, step, count, run.threshold, run.needed,
                  len(starts), aborted, possible - len(starts), target_rate, tuple(metrics), found,
                  tuple(suggestions), plan(item.resolved).figure("worst case from the first bad request to rollback"))


def _bound_suggestions(run: _Run, metric: Metric, values: np.ndarray, others: np.ndarray, fail: np.ndarray,
                       starts: np.ndarray, allowed: int, incidents: list[Window]) -> Iterator[Suggestion]:
    """Per bound of the metric, the tightest value within the target, when it differs from the spec's."""
    for side in ("min", "max"):
        current = getattr(metric, side)
        if current is None:
            continue
        other_side = Metric(metric.name, metric.query, None if side == "min" else metric.min,
                            None if side == "max" else metric.max, metric.origin)
        best = _tightest(values, others | _fails(other_side, values), starts, run.needed, run.threshold, side,
                         allowed)
        if best is None or _round(best, side) == current:
            continue
        best = _round(best, side)
        changed = Metric(metric.name, metric.query, best if side == "min" else metric.min,
                         best if side == "max" else metric.max, metric.origin)
        trial = others | _fails(changed, values)
        effect = ["the plan's times: no change (a metric's bound does not move the schedule)"]
        for w in incidents:
            before, after = _shown(run.delay(fail, w)), _shown(run.delay(trial, w))
            if before != after:
                effect.append(f"incident at {stamp(w.start)}: {before} -> {after}")
        yield Suggestion(_setting(metric, side), float(current), best, (run.rate(fail), run.rate(trial)),
                         tuple(effect))


def backtest(targets: list[Target], prometheus: Prometheus, start: float, end: float, healthy: list[Window],
             incidents: list[Window], target_rate: float = DEFAULT_TARGET,
             progress: Callable[[int, int], None] | None = None) -> tuple[list[Result], list[Finding]]:
    """Fetch, then judge every target whose queries Prometheus answered; a refused query is a finding at the
    metric's line."""
    values, refused = fetch(targets, prometheus, start, end, progress)
    findings = [_finding(targets[t].spec, targets[t].metrics[m].origin,
                         f"metric {targets[t].metrics[m].name}: Prometheus refused its query: {message}",
                         "Fix the metric's query (rollouts validate checks its PromQL) or its variables.")
                for (t, m), message in sorted(refused.items())]
    failed = {t for t, _ in refused}
    results = [judge(item, [values[(t, m)] for m in range(len(item.metrics))], start, end, healthy, incidents,
                     target_rate)
               for t, item in enumerate(targets) if t not in failed]
    return results, findings


def _shown(answer: tuple[float | None, str]) -> str:
    delay, outcome = answer
    return f"rolled back after {duration(delay)}" if delay is not None else outcome.split(":")[0]


def _runs(mask: np.ndarray, times: np.ndarray) -> Iterator[Window]:
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    for begin, stop in zip(edges[::2], edges[1::2], strict=True):
        yield Window(float(times[begin]), float(times[stop - 1]))


def _setting(metric: Metric, side: str) -> str:
    origin = metric.origin
    if origin[1] == "slo":
        return f"slo.{origin[2]}"
    return f"metrics[{metric.name}].{side}"


def _round(value: float, side: str) -> float:
    """Four significant digits, rounded toward the looser side (a min down, a max up) so it keeps its promise."""
    if value == 0 or not math.isfinite(value):
        return value
    scale = 10 ** (3 - math.floor(math.log10(abs(value))))
    return float((math.floor if side == "min" else math.ceil)(value * scale) / scale)


def _plan_changes(resolved: Any, threshold: int) -> Iterator[str]:
    other = copy.deepcopy(resolved)
    other["spec"]["strategy"]["threshold"] = threshold
    before, after = plan(resolved), plan(other)
    for a, b in zip(before.figures, after.figures, strict=True):
        if a.value != b.value:
            yield f"{a.name}: {shown(a.value, a.unit)} -> {shown(b.value, b.unit)}"


# -- output --------------------------------------------------------------------------------------------------------


def _percent(value: float) -> str:
    return f"{value:.2f}%"


def _window(w: Window) -> str:
    return f"{stamp(w.start)}/{stamp(w.end)}"


def _number(value: float) -> str:
    return f"{value:g}"


def text(results: list[Result]) -> str:
    out: list[str] = []
    for r in results:
        out.append(f"{r.service} in {r.environment}: {r.ticks} ticks of {duration(r.interval)} from {stamp(r.start)}"
                   f" (threshold {r.threshold}, {r.analyses} passing analyses to promote)")
        out.append(f"  false aborts: {r.aborted} of {r.rollouts} rollouts on healthy history, "
                   f"{_percent(r.false_abort_rate)} (target {_percent(r.target)}); {r.outside} not counted "
                   "(outside the healthy windows or past the range's end)")
        for m in r.metrics:
            out.append(f"  metric {m.name} ({m.bound}): {m.failing} ticks outside the bound, {m.no_data} without data")
            out.extend(f"    no data: {_window(w)}" for w in m.no_data_windows)
        for i in r.incidents:
            delay = f"rolled back {duration(i.delay)} after its start" if i.delay is not None else i.outcome
            out.append(f"  incident {_window(i.window)}: {delay} (the plan's worst case {duration(r.worst_case)})")
        for s in r.suggestions:
            out.append(f"  suggest {s.setting}: {_number(s.suggested)} (now {_number(s.current)}): false aborts "
                       f"{_percent(s.false_aborts[0])} -> {_percent(s.false_aborts[1])}")
            out.extend(f"    {line}" for line in s.plan)
        if not r.suggestions:
            out.append("  no suggestion: no bound or threshold is tighter within the target")
        out.append("")
    return "\n".join(out)


def markdown(results: list[Result]) -> str:
    out: list[str] = []
    for r in results:
        out.append(f"### {r.service} in {r.environment}\n")
        out.append(f"False aborts: **{_percent(r.false_abort_rate)}** ({r.aborted} of {r.rollouts} rollouts, "
                   f"target {_percent(r.target)}), {r.ticks} ticks of {duration(r.interval)} from {stamp(r.start)}.\n")
        out.append("| metric | bound | outside the bound | no data |\n| --- | --- | ---: | ---: |")
        out.extend(f"| {m.name} | {m.bound} | {m.failing} | {m.no_data} |" for m in r.metrics)
        if any(m.no_data_windows for m in r.metrics):
            out.append("\nNo-data windows: " + ", ".join(f"{m.name} {_window(w)}" for m in r.metrics
                                                         for w in m.no_data_windows))
        for i in r.incidents:
            delay = f"rolled back {duration(i.delay)} after its start" if i.delay is not None else i.outcome
            out.append(f"\nIncident {_window(i.window)}: {delay} (the plan's worst case {duration(r.worst_case)}).")
        if r.suggestions:
            out.append("\n| setting | now | suggested | false aborts | plan |\n| --- | ---: | ---: | --- | --- |")
            out.extend(f"| {s.setting} | {_number(s.current)} | {_number(s.suggested)} | "
                       f"{_percent(s.false_aborts[0])} -> {_percent(s.false_aborts[1])} | {'; '.join(s.plan)} |"
                       for s in r.suggestions)
        out.append("")
    return "\n".join(out)


__all__ = ["DEFAULT_TARGET", "Result", "Target", "Window", "backtest", "fetch", "judge", "markdown", "parse_time",
           "parse_window", "render_query", "stamp", "target", "text"]
