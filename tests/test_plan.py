"""rollouts plan: Flagger's schedule, hand-computed for each strategy (pkg/controller/scheduler.go: canary N+3
ticks, A/B I+3, blue/green I+4, rollback threshold ticks after the first failed check), from the spec the render
reads, and the command's output formats."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rollouts.render.plan import Plan, plan, text
from rollouts.spec.load import load
from rollouts.spec.resolve import resolve

from tests.prometheus_history import backfill, sample, serving

BASE = """\
apiVersion: rollouts/v1alpha1
kind: ServiceRollout
metadata: {name: web, namespace: shop, owner: team}
spec:
  workload:
    chart: {repository: oci://ghcr.io/acme/charts/web, version: 1.0.0}
    image: {repository: ghcr.io/acme/web, tag: 1.0.0}
    replicas: 3
  strategy:
STRATEGY
  slo: {successRate: 99}
GATES
  environments:
    production: {}
"""


def planned(tmp_path: Path, strategy: str, gates: str = "  gates:\n    loadTest: {rps: 5}") -> Plan:
    path = tmp_path / "rollouts.yaml"
    path.write_text(BASE.replace("STRATEGY", strategy.rstrip("\n")).replace("GATES", gates))
    spec, findings = load(str(path), "rollouts.yaml")
    assert spec is not None, findings
    return plan(resolve(spec, "production"))


def schedule(p: Plan) -> list[tuple[int, float, str, int]]:
    return [(t.tick, t.at, t.phase, t.weight) for t in p.ticks]


def test_a_canary_with_steps_takes_n_plus_three_ticks(tmp_path: Path) -> None:
    p = planned(tmp_path, "    type: canary\n    steps: [10, 30, 60]\n    interval: 1m\n    threshold: 2\n")
    assert schedule(p) == [(0, 0, "Progressing", 0), (1, 60, "Progressing", 10), (2, 120, "Progressing", 30),
                           (3, 180, "Progressing", 60), (4, 240, "Promoting", 60), (5, 300, "Finalising", 0),
                           (6, 360, "Succeeded", 0)]
    assert p.figure("time to promotion") == 6 * 60  # (3 steps + 3) x 1m
    assert p.figure("time to rollback after the first failed check") == 2 * 60  # threshold 2 x 1m
    assert p.figure("peak canary weight") == 60
    assert p.figure("exposure") == 10 + 30 + 60 + 60  # %·min: each weight for one minute, the last until routed back
    assert p.figure("extra pods") == 3 * 6  # 3 replicas for 6 minutes
    # the longest metric window (the SLO's 1m) + 10s scrape + one tick to see it + threshold ticks
    assert p.figure("worst case from the first bad request to rollback") == 60 + 10 + 60 + 2 * 60
    assert p.ticks[1].hooks == ("rollback operator-abort", "pre-rollout primary-health",
                                "confirm-traffic-increase traffic-hold")
    assert "confirm-promotion promotion-gate" in p.ticks[4].hooks


def test_a_canary_with_step_weight_overshoots_max_weight_on_its_last_step(tmp_path: Path) -> None:
    """Flagger adds stepWeight while the weight is below maxWeight (runCanary): 20, 40, then 60 > 50, promotion."""
    p = planned(tmp_path, "    type: canary\n    stepWeight: 20\n    maxWeight: 50\n    interval: 1m\n")
    assert schedule(p) == [(0, 0, "Progressing", 0), (1, 60, "Progressing", 20), (2, 120, "Progressing", 40),
                           (3, 180, "Progressing", 60), (4, 240, "Promoting", 60), (5, 300, "Finalising", 0),
                           (6, 360, "Succeeded", 0)]
    assert p.figure("time to promotion") == 6 * 60  # ceil(50 / 20) = 3 steps, + 3 ticks, x 1m
    assert p.figure("peak canary weight") == 60  # not 50
    assert p.figure("exposure") == 20 + 40 + 60 + 60  # %·min: each weight for one minute, 60 until routed back
    driven = {f.name: f.driven_by for f in p.figures}
    assert driven["peak canary weight"] == "strategy.stepWeight/maxWeight"
    assert "strategy.stepWeight/maxWeight, strategy.interval" in driven["time to promotion"]
    assert any(n.startswith("the last step, 60%, overshoots maxWeight 50%") for n in p.notes), p.notes
    assert p.ticks[1].hooks == ("rollback operator-abort", "pre-rollout primary-health",
                                "confirm-traffic-increase traffic-hold")
    assert "confirm-promotion promotion-gate" in p.ticks[4].hooks


@pytest.mark.parametrize(("strategy", "weights"), [
    pytest.param("stepWeight: 25\n    maxWeight: 100", [25, 50, 75, 100], id="divisor"),
    pytest.param("stepWeight: 30", [30, 60, 90, 100], id="default-max-100-capped"),  # 120 capped at 100
])
def test_a_step_weight_that_ends_on_max_weight_has_no_overshoot(tmp_path: Path, strategy: str,
                                                                weights: list[int]) -> None:
    p = planned(tmp_path, f"    type: canary\n    {strategy}\n    interval: 1m\n")
    assert [t.weight for t in p.ticks] == [0, *weights, 100, 0, 0]
    assert p.figure("time to promotion") == (4 + 3) * 60
    assert p.figure("peak canary weight") == 100
    assert p.figure("exposure") == sum(weights) + 100
    assert not any("overshoots" in n for n in p.notes)


def test_ab_takes_iterations_plus_three_and_blue_green_plus_four(tmp_path: Path) -> None:
    ab = planned(tmp_path, "    type: abTest\n    iterations: 4\n    interval: 30s\n    match:\n"
                 "      - headers: {x-canary: {exact: insider}}\n")
    assert ab.figure("time to promotion") == (4 + 3) * 30
    assert [t.weight for t in ab.ticks] == [0, 100, 100, 100, 100, 100, 0, 0]  # of the matched requests
    assert ab.figure("exposure") == 100 * 5 * 0.5
    bg = planned(tmp_path, "    type: blueGreen\n    iterations: 3\n    interval: 1m\n")
    assert schedule(bg) == [(0, 0, "Progressing", 0), (1, 60, "Progressing", 0), (2, 120, "Progressing", 0),
                            (3, 180, "Progressing", 0), (4, 240, "Progressing", 100), (5, 300, "Promoting", 100),
                            (6, 360, "Finalising", 0), (7, 420, "Succeeded", 0)]
    assert bg.figure("time to promotion") == (3 + 4) * 60
    assert bg.figure("peak canary weight") == 100 and bg.figure("exposure") == 200
    assert [h for t in bg.ticks for h in t.hooks].count("confirm-promotion promotion-gate") == 2  # asked twice


def test_an_interval_under_ten_seconds_runs_every_ten(tmp_path: Path) -> None:
    p = planned(tmp_path, "    type: canary\n    steps: [50]\n    interval: 5s\n")
    assert p.interval == 10 and p.figure("time to promotion") == 4 * 10
    assert "raised to Flagger's minimum" in next(f.driven_by for f in p.figures if f.name == "interval")


def test_webhooks_longer_than_the_interval_stretch_their_tick(tmp_path: Path) -> None:
    p = planned(tmp_path, "    type: canary\n    steps: [20, 40]\n    interval: 20s\n",
                "  gates:\n    loadTest: {rps: 5}\n    acceptanceTest: {cmd: 'curl -sf CANARY_URL/ready', "
                "timeout: 30s}")
    # tick 1: operator-abort 2s + primary-health 4s + acceptance-test 30s + traffic-hold 2s = 38s: two intervals
    assert p.ticks[1].worst == 38
    assert p.figure("time to promotion") == 5 * 20
    assert p.figure("time to promotion, webhooks at their timeouts") == 6 * 20
    assert any("may wait until approved" in n for n in p.notes)


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "rollouts"), "plan", "--root", str(root), *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_command_plans_every_example_in_each_format(root: Path) -> None:
    as_json = run(root, "-f", "json")
    assert as_json.returncode == 0, as_json.stderr
    plans = json.loads(as_json.stdout)
    assert sorted((p["service"], p["environment"]) for p in plans) == [
        (s, e) for s in ("billing-worker", "checkout", "frontend", "inventory") for e in ("production", "staging")]
    checkout = next(p for p in plans if (p["service"], p["environment"]) == ("checkout", "production"))
    assert [t["weight"] for t in checkout["ticks"]] == [0, 5, 25, 50, 50, 0, 0]
    text = run(root, "--service", "checkout", "--env", "staging")
    assert text.returncode == 0 and text.stdout.startswith("checkout in staging: canary, one tick every 30s\n")
    assert "time to promotion: 3m (6 ticks" in text.stdout
    md = run(root, "--service", "frontend", "-f", "markdown")
    assert md.returncode == 0 and "### frontend in production (abTest)" in md.stdout
    assert "| time to promotion | 13m |" in md.stdout  # 10 iterations + 3, 1m each


def test_requests_exposed_at_the_request_rate_a_real_prometheus_measures(root: Path, tmp_path: Path,
                                                                        tool: Callable[[str], str]) -> None:
    """checkout's primary in production served 50 requests/s over the last two hours (backfilled with promtool):
    its exposure of 5+25+50+50 %·min x 60 s x 50/s = 3,900 requests reach the canary."""
    promtool, prometheus = tool("promtool"), tool("prometheus")
    labels = {"namespace": "shop", "deployment": "checkout-primary", "direction": "inbound",
              "classification": "success"}
    end = int(time.time()) // 10 * 10
    lines = (sample("response_total", labels, 500 * i, at) for i, at in enumerate(range(end - 7200, end + 1, 10)))
    with serving(prometheus, backfill(promtool, lines, tmp_path), tmp_path) as url:
        done = run(root, "--service", "checkout", "--prometheus", url, "-f", "json")
        assert done.returncode == 0, done.stderr
        by_env = {p["environment"]: {f["name"]: f for f in p["figures"]} for p in json.loads(done.stdout)}
        exposed = by_env["production"]["requests exposed"]
        assert exposed["value"] == pytest.approx((5 + 25 + 50 + 50) / 100 * 60 * 50)
        assert "the primary's 50 requests/s over the last 1h" in exposed["driven_by"]
        # staging's primary (namespace shop-staging) has no series: no figure, a note that says why
        staging = next(p for p in json.loads(done.stdout) if p["environment"] == "staging")
        assert "requests exposed" not in by_env["staging"]
        assert "requests exposed: Prometheus has no requests of checkout-primary in shop-staging over the last 1h" \
            in staging["notes"]
        text = run(root, "--service", "checkout", "--env", "production", "--prometheus", url)
        assert "  requests exposed: 3,900 requests (the exposure x the primary's 50 requests/s" in text.stdout


# every example, computed by hand from its spec: (ticks to Succeeded) x interval; threshold x interval; and
# threshold x interval + the longest window (each SLO's 1m; checkout's error-budget-burn 1m; billing-worker's
# queue-lag is a gauge, no window) + 10s scrape + one interval
EXAMPLES = {
    ("checkout", "production"): (6 * 60, 2 * 60, 2 * 60 + 60 + 10 + 60),  # steps [5, 25, 50]: 3 + 3 ticks
    ("checkout", "staging"): (6 * 30, 2 * 30, 2 * 30 + 60 + 10 + 30),  # interval 30s, threshold 2
    ("frontend", "production"): (13 * 60, 2 * 60, 2 * 60 + 60 + 10 + 60),  # A/B, 10 iterations + 3
    ("frontend", "staging"): (6 * 30, 2 * 30, 2 * 30 + 60 + 10 + 30),  # 3 iterations + 3, 30s
    ("billing-worker", "production"): (9 * 60, 2 * 60, 2 * 60 + 60 + 10 + 60),  # blue/green, 5 iterations + 4
    ("billing-worker", "staging"): (6 * 30, 2 * 30, 2 * 30 + 60 + 10 + 30),  # 2 iterations + 4, 30s
}


# inventory (fluxRollback, one Helm test, retries 0): (1 + 1) x releaseTimeout (2m; staging 1m), released once
FLUX_EXAMPLES = {("inventory", "production"): (2 * 120, 1), ("inventory", "staging"): (2 * 60, 1)}


def test_every_example_plans_as_computed_by_hand(root: Path) -> None:
    done = run(root, "-f", "json")
    assert done.returncode == 0, done.stderr
    plans = json.loads(done.stdout)
    figures = {(p["service"], p["environment"]): {f["name"]: f["value"] for f in p["figures"]}
               for p in plans if p["strategy"] != "fluxRollback"}
    assert {key: (f["time to promotion"], f["time to rollback after the first failed check"],
                  f["worst case from the first bad request to rollback"]) for key, f in figures.items()} == EXAMPLES
    flux = {(p["service"], p["environment"]): {f["name"]: f["value"] for f in p["figures"]}
            for p in plans if p["strategy"] == "fluxRollback"}
    assert {key: (f["worst case from the first bad request to rollback"], f["releases of a bad version"])
            for key, f in flux.items()} == FLUX_EXAMPLES


def test_flux_alone_upgrades_tests_each_in_turn_and_counts_every_retry(tmp_path: Path) -> None:
    """helm-controller: the upgrade waits up to releaseTimeout, then each test up to the same; a failure rolls
    back, and each retry releases the version again (api/v2 UpgradeRemediation, internal/reconcile)."""
    path = tmp_path / "rollouts.yaml"
    path.write_text(BASE.replace("version: 1.0.0}", "version: 1.0.0, tests: [web-smoke, web-api]}", 1)
                    .replace("STRATEGY", "    type: fluxRollback\n    releaseTimeout: 90s\n    retries: 2")
                    .replace("GATES\n", ""))
    spec, findings = load(str(path), "rollouts.yaml")
    assert spec is not None, findings
    p = plan(resolve(spec, "production"))
    assert schedule(p) == [(0, 0, "Upgrading", 100), (1, 90, "Testing", 100), (2, 180, "Testing", 100),
                           (3, 270, "Released", 100)]
    assert [t.hooks for t in p.ticks] == [(), ("test web-smoke",), ("test web-api",), ()]
    assert p.figure("worst case from the first bad request to rollback") == 3 * 90
    assert p.figure("releases of a bad version") == 3
    assert p.figure("exposure") == 100 * 270 / 60 * 3
    assert p.gates == ()
    assert "fluxRollback, Flux alone, each Helm operation up to 1m30s" in text([p])


def test_an_unknown_service_is_a_clear_error(root: Path) -> None:
    result = run(root, "--service", "nope")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no services/nope/rollouts.yaml" in result.stderr


@pytest.fixture
def root() -> Path:
    return Path(__file__).resolve().parents[1]
