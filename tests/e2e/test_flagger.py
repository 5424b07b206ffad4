"""The rendered Canaries and MetricTemplates run by a real Flagger (built from github.com/fluxcd/flagger at the pinned
version, the mesh provider and metrics server the rendered Flagger HelmRelease sets) against real Prometheus
servers, on the real control plane.

- The linkerd-viz Prometheus (``prometheus.linkerd-viz:9090``) scrapes only a fake of the Linkerd proxies
  (``fake_linkerd_proxy.FakeLinkerdProxy``: the proxy's metric names and labels, no failure series before the first
  failure); an app Prometheus (``prometheus.monitoring:9090``) scrapes the pods' own metrics
  (``billing_queue_lag_seconds``). Each listens on its own loopback address, port 9090, as rendered.
- The gates' webhooks are answered by a fake of Flagger's loadtester on ``flagger-loadtester.flagger-system:80``
  (``fake_loadtester``); a ``helm``/``helmv3`` task is refused (500) unless the loadtester's ServiceAccount may do
  what ``helm test`` does in the namespace, asked of the real API server (``kubectl auth can-i --as``).
- The analysis controller's webhooks (``analysis-controller.flagger-system:8080``) are answered by its image
  (scripts/controller-image), run with podman on the host network as the rendered StatefulSet runs it, with the
  rendered config of each environment, a token of its rendered ServiceAccount (its operator state goes through the
  rendered RBAC) and an /etc/hosts of its own: the mesh Prometheus, and the probed services' canary and primary
  names mapped to a test app of their journeys (``probe_app.ProbeApp``).
- Flagger runs out of cluster in its own mount namespace whose /etc/hosts maps those in-cluster names to the
  loopback addresses.
- The Deployment and Service the chart would create are made by the test (labels matching the rendered selectors);
  a rollout is triggered by changing the image tag, as a release does.

Intervals: the TEST setting ROLLOUTS_E2E_INTERVAL (default 20s) replaces every ``strategy.interval`` in a copy of
the specs (tests/e2e/tree.py). All scenarios run at once (one per Canary, staging and production are distinct).
Measured times are compared with Flagger's scheduler (pkg/controller/scheduler.go at v1.44.0), counted from the tick
that sets Progressing:

- canary with N stepWeights: pre-rollout + first weight, N-1 more weights, promote, route back (Finalising),
  scale down (Succeeded): (N + 3) intervals;
- A/B with I iterations: I iteration ticks, promote, Finalising, Succeeded: (I + 3) intervals;
- blue/green with I iterations: I iteration ticks, one tick routing all traffic to the canary, promote,
  Finalising, Succeeded: (I + 4) intervals (plus the time a manual gate stays closed);
- rollback: failed checks are counted once per tick and the threshold is checked at the start of the next one, so
  the rollback comes ``threshold`` intervals after the first failed check.
"""

from __future__ import annotations

import calendar
import concurrent.futures
import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from rollouts.controller.evidence import verify_dir
from rollouts.keys import load_public_key

from tests.e2e.cluster import Cluster
from tests.e2e.harness import (
    HOLD,
    Env,
    Outcome,
    RunningController,
    Scenario,
    report,
    rollout_env,
    run,
    set_change_windows,
)
from tests.e2e.test_controller_image import Image, image, started
from tests.e2e.tree import copy_project, e2e_interval, render, seconds

__all__ = ["image"]

SERVICES = ("checkout", "frontend", "billing-worker")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WINDOW_CLOSED = ("shop-staging", "frontend")  # the Canary whose change window is closed when the suite starts


def closed_window() -> dict[str, Any]:
    """A change window on none of the days from yesterday to tomorrow (UTC): closed for the whole run."""
    today = time.gmtime().tm_wday
    days = [d for i, d in enumerate(WEEKDAYS) if i not in {(today - 1) % 7, today, (today + 1) % 7}]
    return {"days": days, "start": "00:00", "end": "23:59", "timeZone": "UTC"}


def e2e_policies(project: Path) -> Path:
    """The suite's change windows: the example specs' own windows are dropped (they would open and close with the
    time of day the suite runs at), and frontend's staging gets one closed for the whole run."""
    return set_change_windows(project, {(WINDOW_CLOSED[1], "staging"): closed_window()})


@pytest.fixture(scope="module")
def env(cluster: Cluster, crds: list[Path], need_bin: Callable[[str], str], image: Image,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """Every service of the suite's specs on real Flagger (tests/e2e/harness.py), the controller from its image."""
    need_bin("flagger")
    need_bin("prometheus")
    project = copy_project(tmp_path_factory.mktemp("flagger") / "project", e2e_interval())
    rendered = render(e2e_policies(project))

    def from_image(directory: Path, configs: dict[str, str], host: str, port: int, hosts: Path,
                   kubeconfig: Path) -> AbstractContextManager[RunningController]:
        return started(image, directory, configs, host, port, hosts, kubeconfig)

    with rollout_env(cluster, rendered, project, tmp_path_factory.mktemp("env"), from_image) as running:
        yield running


# The scenarios, started together; each test waits for its own; the releases of one lane (one Canary) in a row.
PLAN: dict[str, list[Scenario]] = {
    "checkout-production": [Scenario("canary, healthy, zero errors", "shop", "checkout", "1.4.3"),
                            Scenario("canary, p99 900 ms over a 500 ms budget", "shop", "checkout", "1.4.4",
                                     latency_ms=900),
                            Scenario("canary, healthy, error budget spent by the primary, aborted", "shop",
                                     "checkout", "1.4.5", burn_budget=True, abort_waiting=True)],
    "checkout-staging": [Scenario("canary, 30% errors", "shop-staging", "checkout", "1.4.3", errors=0.3),
                         Scenario("canary, failing its synthetic probes", "shop-staging", "checkout", "1.4.4",
                                  probes_fail=True)],
    "frontend-production": [Scenario("A/B, healthy", "shop", "frontend", "3.12.1"),
                            Scenario("A/B, p95 900 ms over a 300 ms budget", "shop", "frontend", "3.12.2",
                                     latency_ms=900)],
    "frontend-staging": [Scenario("A/B, closed change window, then 30% errors", "shop-staging", "frontend",
                                  "3.12.1", errors=0.3, window_closed=True)],
    "billing-staging": [Scenario("blue/green, healthy", "billing-staging", "billing-worker", "2.0.8"),
                        Scenario("blue/green, 30% errors", "billing-staging", "billing-worker", "2.0.9",
                                 errors=0.3),
                        Scenario("blue/green, p99 1.5 s over a 1 s budget", "billing-staging", "billing-worker",
                                 "2.0.10", latency_ms=1500)],
    "billing-production": [Scenario("blue/green, healthy, manual approval", "billing", "billing-worker", "2.0.8",
                                    open_gate=True)],
}


@pytest.fixture(scope="module")
def outcomes(env: Env) -> Iterator[dict[str, list[concurrent.futures.Future[Outcome]]]]:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(PLAN))
    futures: dict[str, list[concurrent.futures.Future[Outcome]]] = {}

    def chain(scenarios: list[Scenario], slots: list[concurrent.futures.Future[Outcome]]) -> None:
        for scenario, slot in zip(scenarios, slots, strict=True):
            try:
                slot.set_result(run(env, scenario))
            except BaseException as exc:
                slot.set_exception(exc)

    for lane, scenarios in PLAN.items():
        futures[lane] = [concurrent.futures.Future() for _ in scenarios]
        pool.submit(chain, scenarios, futures[lane])
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def interval_of(canary: dict[str, Any]) -> float:
    return seconds(canary["spec"]["analysis"]["interval"])


def skipped_ticks(outcome: Outcome, start: float, end: float, interval: float) -> tuple[int, list[float]]:
    """Ticks Flagger did not run between ``start`` and ``end``: a gap of more than 1.5 intervals between two
    changes of the Canary's state with no Warning event inside it (a webhook or metric problem warns at the tick it
    fails; a scheduler that missed a tick on this 2-core machine does not; events are stamped to the second and the
    state is polled every second, so a tick's own events sit within 3 s of its ends), less the ticks of a manual
    gate's wait. Returns the count and
    where the gaps start, so the report says what was discounted."""
    times = [s.at for s in outcome.samples if start <= s.at <= end]
    warned = [at for at, kind, _ in outcome.events if kind == "Warning"]
    count, where = 0, []
    for a, b in pairwise(times):
        missed = round((b - a) / interval) - 1
        if missed > 0 and not any(a + 3 < w < b - 3 for w in warned):  # a tick's own events: at its ends
            count += missed
            where.append(a)
    gate = round(outcome.gate_wait / interval)
    return max(0, count - gate), where if count > gate else []


def _discounted(skipped: int, where: list[float], trigger: float) -> str:
    if not skipped:
        return ""
    return (f"; less {skipped} tick(s) Flagger did not run (no state change and no warning for over 1.5 intervals "
            f"after t+{', t+'.join(f'{w - trigger:.1f}s' for w in where)})")


def assert_promoted(outcome: Outcome) -> None:
    interval = interval_of(outcome.canary)
    lines = []
    try:
        assert outcome.phase == "Succeeded", (f"{outcome.scenario.label}: ended {outcome.phase!r}; warnings: "
                                              f"{outcome.warnings()[-5:]}")
        assert outcome.progressing is not None and outcome.end is not None
        skipped, where = skipped_ticks(outcome, outcome.progressing, outcome.end, interval)
        measured = outcome.end - outcome.progressing - outcome.gate_wait - skipped * interval
        assert outcome.plan is not None and outcome.plan.interval == interval
        planned = outcome.plan.figure("time to promotion")
        lines.append(f"time to promotion (from Progressing{', less the gate wait' if outcome.gate_wait else ''}"
                     f"{_discounted(skipped, where, outcome.trigger)}): "
                     f"measured {measured:.1f} s, rollouts plan {planned:g} s ({round(planned / interval)} ticks "
                     f"of {interval:g} s)")
        assert abs(measured - planned) <= interval, lines[-1]
    finally:
        report(outcome, lines)


def assert_rolled_back(outcome: Outcome, metric: str) -> None:
    interval = interval_of(outcome.canary)
    threshold = int(outcome.canary["spec"]["analysis"].get("threshold") or 1)
    lines = []
    try:
        assert outcome.phase == "Failed", f"{outcome.scenario.label}: ended {outcome.phase!r}"
        first, end = outcome.first_failed_check, outcome.end
        assert first is not None and end is not None
        skipped, where = skipped_ticks(outcome, first, end, interval)
        measured = end - first - skipped * interval
        assert outcome.plan is not None
        formula = outcome.plan.figure("time to rollback after the first failed check")
        assert formula == threshold * interval
        lines.append(f"first failed check {first - outcome.trigger:.1f} s after the release; rollback "
                     f"{measured:.1f} s after it{_discounted(skipped, where, outcome.trigger)}, rollouts plan "
                     f"{formula:g} s (threshold {threshold} x {interval:g} s)")
        halts = [w for w in outcome.warnings() if "Halt" in w]
        assert any(metric in w for w in halts), f"no failed check of {metric}: {halts[-5:]}"
        assert abs(measured - formula) <= interval, lines[-1]
    finally:
        report(outcome, lines)


def test_flagger_routes_at_the_rendered_parents(env: Env) -> None:
    """Flagger's HTTPRoute of each Canary hangs on the parents and hostnames the render gave it (gatewayRefs,
    service.hosts), where Gateway API splits the traffic."""
    def parents(refs: list[dict[str, Any]], namespace: str) -> set[tuple[str, str, str]]:
        return {(ref.get("kind", "Gateway"), ref.get("namespace", namespace), ref["name"]) for ref in refs}

    for (namespace, name), canary in env.canaries.items():
        route = json.loads(env.cluster.kubectl("get", "httproutes.gateway.networking.k8s.io", name, "-n",
                                               namespace, "-o", "json", check=True).stdout)
        wanted = parents(canary["spec"]["service"].get("gatewayRefs", []), namespace)
        assert wanted and parents(route["spec"]["parentRefs"], namespace) == wanted, (namespace, name)
        assert route["spec"].get("hostnames", []) == canary["spec"]["service"].get("hosts", []), (namespace, name)


def test_canary_healthy_zero_errors_is_promoted(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]
                                                ) -> None:
    assert_promoted(outcomes["checkout-production"][0].result())


def test_canary_p99_over_budget_rolls_back(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    assert_rolled_back(outcomes["checkout-production"][1].result(), "latency-p99")


def test_canary_30_percent_errors_rolls_back(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]
                                             ) -> None:
    assert_rolled_back(outcomes["checkout-staging"][0].result(), "success-rate")


def test_ab_healthy_is_promoted(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    assert_promoted(outcomes["frontend-production"][0].result())


def test_ab_30_percent_errors_rolls_back(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    assert_rolled_back(outcomes["frontend-staging"][0].result(), "success-rate")


def test_ab_latency_over_budget_rolls_back(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    assert_rolled_back(outcomes["frontend-production"][1].result(), "latency-p95")


def test_blue_green_30_percent_errors_rolls_back(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]
                                                 ) -> None:
    assert_rolled_back(outcomes["billing-staging"][1].result(), "success-rate")


def test_blue_green_p99_over_budget_rolls_back(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]
                                               ) -> None:
    assert_rolled_back(outcomes["billing-staging"][2].result(), "latency-p99")


def test_blue_green_healthy_is_promoted(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    assert_promoted(outcomes["billing-staging"][0].result())


def test_blue_green_manual_approval_waits_and_closes(env: Env,
                                                     outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]
                                                     ) -> None:
    outcome = outcomes["billing-production"][0].result()
    assert_promoted(outcome)
    assert any(s.state.phase == "WaitingPromotion" for s in outcome.samples), "never waited for the approval"
    checks = [c for c in env.loadtester.calls("billing-worker", "billing") if c.path == "/gate/check"]
    assert checks and checks[0].status == 403, "promotion was not gated by /gate/check"
    # the gate must not stay open for the next release (the loadtester keeps gates open until closed)
    assert not env.loadtester.is_open("billing-worker", "billing"), \
        "the manual approval gate is still open after the rollout: the next release would be promoted unasked"


# -- the analysis controller in the loop: its image answers every Canary's webhooks --------------------------------

def evidence(env: Env) -> list[Any]:
    """Every decision of the controller's signed evidence chain, verified with its public key."""
    result = verify_dir(str(env.controller.data / "evidence"), load_public_key(str(env.controller.public_key)))
    assert result.ok, [f.message for f in result.findings]
    return result.decisions


def decisions(env: Env, outcome: Outcome, hook: str) -> list[Any]:
    """The controller's decisions on ``hook`` for this scenario's release, from its evidence."""
    environment = "staging" if outcome.scenario.namespace.endswith("-staging") else "production"
    end = outcome.end or time.time()

    def at(d: Any) -> float:
        return calendar.timegm(time.strptime(d.time[:19], "%Y-%m-%dT%H:%M:%S"))

    return [d for d in evidence(env) if d.service == outcome.scenario.name and d.environment == environment
            and d.hook == hook and outcome.trigger - 1 <= at(d) <= end + 1]


def phases(outcome: Outcome, before: float | None = None, after: float | None = None) -> set[str]:
    return {s.state.phase for s in outcome.samples
            if (before is None or s.at < before) and (after is None or s.at >= after)}


def test_a_closed_change_window_keeps_the_canary_waiting_until_it_opens(
        env: Env, outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    outcome = outcomes["frontend-staging"][0].result()
    assert outcome.acted is not None, f"never held Waiting for {HOLD} intervals: {phases(outcome)}"
    held = phases(outcome, before=outcome.acted)
    assert "Waiting" in held and "Progressing" not in held, held
    assert "Progressing" in phases(outcome, after=outcome.acted)
    denied = [d for d in decisions(env, outcome, "confirm-rollout") if d.decision == "deny"]
    assert len(denied) >= HOLD and all(d.reason.startswith("outside every change window") for d in denied), denied
    allowed = [d for d in decisions(env, outcome, "confirm-rollout") if d.decision == "allow"]
    assert allowed and "no change windows configured" in allowed[-1].reason  # reloaded without a restart
    assert any("waiting for approval change-policy" in w for w in outcome.warnings())


def test_a_spent_error_budget_keeps_the_canary_waiting_for_promotion_and_an_abort_rolls_it_back(
        env: Env, outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    outcome = outcomes["checkout-production"][2].result()
    interval = interval_of(outcome.canary)
    lines = []
    try:
        assert outcome.acted is not None, f"never waited for promotion for {HOLD} intervals: {phases(outcome)}"
        assert outcome.phase == "Failed", outcome.phase
        assert outcome.end is not None
        lines.append(f"aborted {outcome.acted - outcome.trigger:.1f} s after the release; rolled back "
                     f"{outcome.end - outcome.acted:.1f} s later (the next tick: at most {interval:g} s + one tick)")
        assert outcome.end - outcome.acted <= 2 * interval + 5, lines[-1]
        denied = [d for d in decisions(env, outcome, "confirm-promotion") if d.decision == "deny"]
        assert denied and all(d.reason.startswith("error budget") and "cannot be judged" not in d.reason
                              for d in denied), denied
        assert not [d for d in decisions(env, outcome, "confirm-promotion") if d.decision == "allow"]
        rollbacks = [d for d in decisions(env, outcome, "rollback") if d.decision == "allow"]
        assert rollbacks and "e2e: the error budget is spent" in rollbacks[0].reason, rollbacks
        assert any("Rolling back checkout.shop manual webhook invoked" in w for w in outcome.warnings())
    finally:
        report(outcome, lines)


def test_a_canary_failing_its_probes_rolls_back(env: Env,
                                                outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    outcome = outcomes["checkout-staging"][1].result()
    assert_rolled_back(outcome, "canary-checks")
    denied = [d for d in decisions(env, outcome, "rollout") if d.decision == "deny"]
    assert denied and all(d.reason.startswith("probe") for d in denied), denied
    assert env.probes.seen("shop-staging", "checkout", "primary"), "the primary was not probed beside the canary"


def test_a_healthy_canary_passes_every_gate_of_the_controller_and_each_decision_verifies(
        env: Env, outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    outcome = outcomes["checkout-production"][0].result()
    assert outcome.phase == "Succeeded"
    for hook in ("confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase", "confirm-promotion"):
        made = decisions(env, outcome, hook)
        assert made and all(d.decision == "allow" for d in made), (hook, made)
    rollbacks = decisions(env, outcome, "rollback")  # asked at every tick; no abort: denied, the rollout goes on
    assert rollbacks and all(d.decision == "deny" for d in rollbacks), rollbacks
    ok = [s for s in env.probes.seen("shop", "checkout", "canary") if s.status in (200, 201)]
    assert ok, "the canary was not probed"
