"""rollouts backtest against a real Prometheus on 127.0.0.1 whose history was backfilled with promtool: a known-noisy
success rate gives the hand-computed false-abort rate, an injected incident is rolled back with the hand-computed
delay, a gap in the samples is reported as no-data ticks; and the suggestion's arithmetic against brute force."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from rollouts.backtest import (
    Metric,
    Result,
    Target,
    Window,
    _aborted,
    _fails,
    _starts,
    _tightest,
    backtest,
    judge,
    parse_time,
    parse_window,
    render_query,
    stamp,
    target,
)
from rollouts.prometheus import Prometheus
from rollouts.spec.load import load
from rollouts.spec.resolve import resolve

from tests.prometheus_history import backfill, sample, serving

SPEC = """\
apiVersion: rollouts/v1alpha1
kind: ServiceRollout
metadata: {name: NAME, namespace: shop, owner: team}
spec:
  workload:
    chart: {repository: oci://ghcr.io/acme/charts/NAME, version: 1.0.0}
    image: {repository: ghcr.io/acme/NAME, tag: 1.0.0}
    steadyTraffic: true
  strategy: {type: canary, steps: [10, 30, 60], interval: 1m, threshold: 2}
  slo: {successRate: 99, interval: 1m}
  environments:
    production: {}
"""
T0 = parse_time("2026-11-01T00:00:00Z", 0)  # tick 0; 600 ticks of 1m
TICKS = 600
INCIDENT = T0 + 300 * 60  # 30 minutes at 50% errors from tick 300
GAP = T0 + 100 * 60  # no samples for 10 minutes from tick 100


def _history() -> Iterator[str]:
    """Samples every 10 s from 5 minutes before tick 0 to the last tick, for three services' primaries:
    noisy: 100 requests per 10 s, and 10 failures in the 10 s before ticks 5 and 7 of every 20 (600/610 = 98.36%
    success at those ticks, 100% elsewhere); incident: 100 failures per 10 s for the 30 minutes from INCIDENT;
    gappy: healthy, with no samples in [GAP, GAP + 600 s)."""
    labels = {"namespace": "shop", "direction": "inbound"}
    counts = {(name, cls): 0 for name in ("noisy", "incident", "gappy") for cls in ("success", "failure")}
    for at in range(int(T0) - 300, int(T0) + (TICKS - 1) * 60 + 1, 10):
        tick, offset = divmod(at - int(T0), 60)
        for name in ("noisy", "incident", "gappy"):
            counts[(name, "success")] += 100
        if offset == 0 and tick % 20 in (5, 7):
            counts[("noisy", "failure")] += 10
        if INCIDENT < at <= INCIDENT + 1800:
            counts[("incident", "failure")] += 100
        for (name, cls), value in counts.items():
            if name == "gappy" and GAP <= at < GAP + 600:
                continue
            yield sample("response_total", {**labels, "deployment": f"{name}-primary", "classification": cls},
                         value, at)


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory, tool: Callable[[str], str]) -> Iterator[str]:
    promtool, prometheus = tool("promtool"), tool("prometheus")
    directory = tmp_path_factory.mktemp("history")
    data = backfill(promtool, _history(), directory)
    with serving(prometheus, data, directory) as base:
        yield base


def _target(tmp_path: Path, name: str, spec: str = SPEC) -> Target:
    path = tmp_path / name / "rollouts.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spec.replace("NAME", name))
    loaded, findings = load(str(path), f"services/{name}/rollouts.yaml")
    assert loaded is not None, findings
    item, problems = target(loaded, resolve(loaded, "production"))
    assert item is not None, problems
    return item


def _run(url: str, tmp_path: Path, name: str, incidents: list[Window] | None = None) -> Result:
    progress: list[tuple[int, int]] = []
    results, findings = backtest([_target(tmp_path, name)], Prometheus(url), T0, T0 + (TICKS - 1) * 60, [],
                                 incidents or [], progress=lambda done, total: progress.append((done, total)))
    assert findings == []
    assert progress[-1] == (1, 1)  # 600 ticks: one request
    (result,) = results
    assert result.ticks == TICKS
    return result


def test_a_noisy_metric_gives_the_hand_computed_false_abort_rate(prometheus_url: str, tmp_path: Path) -> None:
    r = _run(prometheus_url, tmp_path, "noisy")
    # 3 steps: 3 passing analyses to promote; threshold 2: a rollout started at tick s is rolled back iff its
    # analysis ticks s+2..s+5 hold 2 failures, i.e. both 20m+5 and 20m+7: s = 20m+2 or 20m+3, 2 starts in 20
    assert (r.analyses, r.threshold) == (3, 2)
    assert r.rollouts == TICKS - 5  # starts 0..594: each needs its ticks s..s+5 inside the range
    assert r.aborted == 2 * 30  # m = 0..29 (20 x 29 + 3 = 583 <= 594)
    assert r.false_abort_rate == pytest.approx(100 * 60 / 595)
    (metric,) = r.metrics
    assert (metric.name, metric.bound, metric.failing, metric.no_data) == ("success-rate", "min 99", 60, 0)
    by_setting = {s.setting: s for s in r.suggestions}
    # the failing ticks sit at 600/610 = 98.3607%: the tightest min within 2% passes them, rounded down
    rate = by_setting["slo.successRate"]
    assert (rate.current, rate.suggested) == (99, 98.36)
    assert rate.false_aborts == (pytest.approx(100 * 60 / 595), 0.0)
    # threshold 3: at most 2 failures in any 5 analysis ticks, no false abort; the plan's rollback times move
    threshold = by_setting["strategy.threshold"]
    assert (threshold.current, threshold.suggested, threshold.false_aborts[1]) == (2, 3, 0.0)
    assert threshold.plan == ("time to rollback after the first failed check: 2m -> 3m",
                              "worst case from the first bad request to rollback: 4m10s -> 5m10s")


def test_an_injected_incident_is_detected_with_the_hand_computed_delay(prometheus_url: str, tmp_path: Path) -> None:
    incident = Window(INCIDENT, INCIDENT + 1800)
    r = _run(prometheus_url, tmp_path, "incident", [incident])
    (found,) = r.incidents
    # the canary's first traffic at tick 300 (INCIDENT); ticks 301 and 302 fail (their 1m windows hold the errors);
    # threshold 2 reached at 302, rolled back at tick 303: 3 intervals, within the plan's worst case 2x1m+1m+10s+1m
    assert (found.delay, found.outcome) == (180, "rolled back")
    assert r.worst_case == 250
    assert r.metrics[0].failing == 30  # ticks 301..330
    assert r.aborted == 0  # the incident is not healthy history: no rollout that touches it is counted
    assert r.rollouts == TICKS - 5 - (30 + 1 + 5)  # starts whose ticks s..s+5 avoid ticks 300..330


def test_no_data_ticks_are_reported_as_such_and_count_as_failed_checks(prometheus_url: str,
                                                                       tmp_path: Path) -> None:
    r = _run(prometheus_url, tmp_path, "gappy")
    (metric,) = r.metrics
    # no sample in [GAP, GAP+600s): the 1m windows of ticks 101..110 hold fewer than two samples
    assert (metric.failing, metric.no_data) == (0, 10)
    assert metric.no_data_windows == (Window(GAP + 60, GAP + 600),)
    # Flagger counts no data as a failed check: starts 97..107 see two of them in their ticks s+2..s+5
    assert r.aborted == 11


def test_the_command_prints_the_report_and_a_refused_query_names_its_line(prometheus_url: str, tmp_path: Path,
                                                                          run_cli: Callable[..., object]) -> None:
    root = tmp_path / "repo"
    (root / "services" / "noisy").mkdir(parents=True)
    (root / "services" / "noisy" / "rollouts.yaml").write_text(SPEC.replace("NAME", "noisy"))
    window = f"{stamp(T0)}/{stamp(T0 + (TICKS - 1) * 60)}"
    args = ("backtest", "--prometheus", prometheus_url, "--from", stamp(T0), "--to", stamp(T0 + (TICKS - 1) * 60),
            "--root", str(root))
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # type: ignore[attr-defined]
    out = proc.stdout  # type: ignore[attr-defined]
    assert "noisy in production: 600 ticks of 1m from 2026-11-01T00:00:00Z" in out
    assert "false aborts: 60 of 595 rollouts on healthy history, 10.08% (target 2.00%)" in out
    assert "suggest slo.successRate: 98.36 (now 99): false aborts 10.08% -> 0.00%" in out
    data = json.loads(run_cli(*args, "-f", "json", "--healthy", window).stdout)  # type: ignore[attr-defined]
    assert data[0]["aborted"] == 60 and data[0]["false_abort_rate"] == pytest.approx(100 * 60 / 595)
    markdown = run_cli(*args, "-f", "markdown").stdout  # type: ignore[attr-defined]
    assert "| success-rate | min 99 | 60 | 0 |" in markdown
    # a query Prometheus refuses: a finding at the metric's query, exit 1, no traceback
    bad = SPEC.replace("NAME", "noisy").replace(
        "  environments:", "  metrics:\n    - name: broken\n      query: sum(rate(x[{{ interval }}])\n"
        "      max: 1\n  environments:")
    (root / "services" / "noisy" / "rollouts.yaml").write_text(bad)
    proc = run_cli(*args)
    assert proc.returncode == 1  # type: ignore[attr-defined]
    assert "services/noisy/rollouts.yaml:13:14: error: metric broken: Prometheus refused its query" in \
        proc.stdout  # type: ignore[attr-defined]
    assert "Traceback" not in proc.stderr  # type: ignore[attr-defined]


def test_an_unreachable_prometheus_is_a_clear_error(tmp_path: Path, run_cli: Callable[..., object]) -> None:
    root = tmp_path / "repo"
    (root / "services" / "noisy").mkdir(parents=True)
    (root / "services" / "noisy" / "rollouts.yaml").write_text(SPEC.replace("NAME", "noisy"))
    proc = run_cli("backtest", "--prometheus", "http://127.0.0.1:9", "--from", "now-1h", "--root", str(root))
    assert proc.returncode == 1  # type: ignore[attr-defined]
    assert "cannot reach Prometheus at http://127.0.0.1:9" in proc.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in proc.stderr  # type: ignore[attr-defined]
    proc = run_cli("backtest", "--prometheus", "http://127.0.0.1:9", "--from", "yesterday", "--root", str(root))
    assert proc.returncode == 64  # type: ignore[attr-defined]
    assert "'yesterday' is not a time" in proc.stderr  # type: ignore[attr-defined]


def test_flagger_template_variables_are_filled_in_and_unknown_ones_refused() -> None:
    model = {"name": "web", "namespace": "shop", "target": "web-primary", "service": "web", "ingress": "web",
             "route": "web", "interval": "2m"}
    query = 'rate(x{ns="{{ namespace }}", d=~"{{target}}", dir="{{ variables.direction }}"}[{{ interval }}])'
    assert render_query(query, model, {"direction": "inbound"}) == \
        'rate(x{ns="shop", d=~"web-primary", dir="inbound"}[2m])'
    with pytest.raises(KeyError, match=r"variables\.direction"):
        render_query(query, model, {})
    with pytest.raises(KeyError, match="not one of Flagger's template functions"):
        render_query("{{ canary }}", model, {})


def test_times_and_windows() -> None:
    assert parse_time("2026-11-01T00:00:00Z", 0) == 1793491200
    assert parse_time("now-2h", 10_000) == 10_000 - 7200
    assert parse_time("1793491200", 0) == 1793491200
    assert parse_window("2026-11-01T00:00Z/2026-11-01T01:00Z", 0) == Window(1793491200, 1793494800)
    with pytest.raises(ValueError, match="ends before it starts"):
        parse_window("2026-11-01T01:00Z/2026-11-01T00:00Z", 0)


@pytest.mark.parametrize("side", ["min", "max"])
@pytest.mark.parametrize("threshold", [1, 2, 3])
def test_the_tightest_bound_agrees_with_brute_force(side: str, threshold: int) -> None:
    rng = np.random.default_rng(7 + threshold)
    values = rng.normal(100, 5, 400)
    values[rng.integers(0, 400, 4)] = np.nan  # no data
    other = rng.random(400) < 0.005  # another metric's failures
    needed = 3
    ok = np.ones(400, dtype=bool)
    starts = _starts(ok, 2 + needed + threshold - 1)
    allowed = int(0.1 * len(starts))
    best = _tightest(values, other, starts, needed, threshold, side, allowed)
    assert best is not None
    # when the other causes alone abort more than allowed, no bound helps
    alone = _aborted(other | np.isnan(values), starts, needed, threshold)
    if alone:
        assert _tightest(values, other, starts, needed, threshold, side, alone - 1) is None

    def aborts(bound: float) -> int:
        metric = Metric("m", "", bound if side == "min" else None, bound if side == "max" else None, ())
        return _aborted(other | _fails(metric, values), starts, needed, threshold)

    assert aborts(best) <= allowed
    candidates = np.unique(values[~np.isnan(values)])
    tighter = candidates[candidates > best] if side == "min" else candidates[candidates < best]
    # every tighter bound aborts more than allowed (the abort count only grows as the bound tightens)
    assert aborts(float(tighter[0] if side == "min" else tighter[-1])) > allowed


def test_a_service_without_metrics_never_aborts(tmp_path: Path) -> None:
    item = _target(tmp_path, "quiet", SPEC.replace("  slo: {successRate: 99, interval: 1m}\n", ""))
    assert item.metrics == ()
    result = judge(item, [], T0, T0 + (TICKS - 1) * 60, [], [])
    assert (result.ticks, result.rollouts, result.aborted) == (TICKS, TICKS - 5, 0)
    # nothing can fail a check, so the lowest threshold is within the target
    ((suggestion),) = result.suggestions
    assert (suggestion.setting, suggestion.suggested, suggestion.false_aborts) == ("strategy.threshold", 1, (0, 0))
