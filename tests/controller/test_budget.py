"""The error-budget gate: the burn-rate arithmetic by hand, the decision on hand-made traffic, and whole checks
against a real Prometheus."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest
from rollouts.controller.budget import (
    BurnPair,
    Traffic,
    budget_remaining,
    burn_pairs,
    burn_rate,
    check_budget,
    decide,
    seconds_with_days,
    traffic_query,
)
from rollouts.controller.decision import Call, Verdict
from rollouts.controller.prom import Prometheus

from .promfixture import Stack, free_port, prometheus_stack, targets

__all__ = ["prometheus_stack"]


def test_burn_rate_by_hand() -> None:
    assert burn_rate(0.001, 99.9) == pytest.approx(1.0)  # spending exactly the budget
    assert burn_rate(0.0144, 99.9) == pytest.approx(14.4)
    assert burn_rate(0.06, 99.0) == pytest.approx(6.0)
    assert burn_rate(0.0, 99.9) == 0.0


def test_budget_remaining_by_hand() -> None:
    assert budget_remaining(0.0005, 99.9) == pytest.approx(0.5)
    assert budget_remaining(0.0, 99.9) == 1.0
    assert budget_remaining(0.002, 99.9) == pytest.approx(-1.0)  # overspent twice over


def test_workbook_pairs_for_30_days() -> None:
    assert burn_pairs({"window": "30d"}) == [BurnPair("1h", "5m", pytest.approx(14.4)),
                                             BurnPair("6h", "30m", pytest.approx(6.0))]


def test_pairs_scale_with_the_budget_window() -> None:
    """7 days = 168 h: 2% of the budget in 1 h is a burn of 0.02 * 168 = 3.36; 5% in 6 h is 0.05 * 168 / 6 = 1.4."""
    limits = [pair.limit for pair in burn_pairs({"window": "7d"})]
    assert limits == [pytest.approx(3.36), pytest.approx(1.4)]


def test_configured_pairs_replace_the_workbook() -> None:
    assert burn_pairs({"burnRateWindows": [{"long": "6s", "short": "3s", "burnRate": 2}]}) == [BurnPair("6s", "3s", 2)]


def test_budget_windows_take_days() -> None:
    assert seconds_with_days("30d") == 2_592_000
    assert seconds_with_days("7d12h") == 648_000
    assert seconds_with_days("90m") == 5400


def test_the_query_selects_both_deployments_inbound() -> None:
    assert traffic_query(targets("shop"), "1h") == (
        'sum by (classification) (increase(response_total{namespace="shop", deployment=~"app-primary|app", '
        'direction="inbound"}[1h]))')


PAIRS = [BurnPair("1h", "5m", 14.4), BurnPair("6h", "30m", 6.0)]


def traffic(windows: dict[str, tuple[float, float]]) -> dict[str, Traffic]:
    return {w: Traffic(w, f"q[{w}]", requests, failures) for w, (requests, failures) in windows.items()}


def test_healthy_budget_allows() -> None:
    measured = traffic({"30d": (1_000_000, 200), "1h": (2000, 1), "5m": (200, 0), "6h": (10000, 5),
                        "30m": (1000, 1)})
    decision = decide(measured, "30d", PAIRS, 99.9, 10, 20)
    assert decision.allow
    assert decision.reason == "error budget: 80.0% left, policy needs 10%"
    assert decision.inputs[0].value == 80.0
    assert [i.name for i in decision.inputs[1:]] == ["burn rate 1h", "burn rate 5m", "burn rate 6h", "burn rate 30m"]
    assert decision.inputs[1].value == 0.5


def test_budget_under_the_policy_floor_denies() -> None:
    measured = traffic({"30d": (1_000_000, 958), "1h": (2000, 0), "5m": (200, 0), "6h": (10000, 0), "30m": (1000, 0)})
    decision = decide(measured, "30d", PAIRS, 99.9, 10, 20)
    assert not decision.allow
    assert decision.reason == "error budget: 4.2% left, policy needs 10%"


def test_both_windows_burning_denies() -> None:
    measured = traffic({"30d": (1_000_000, 100), "1h": (2000, 40), "5m": (200, 4), "6h": (10000, 10),
                        "30m": (1000, 1)})
    decision = decide(measured, "30d", PAIRS, 99.9, 10, 20)
    assert not decision.allow
    assert decision.reason == "error budget burning too fast: 20.0x over 1h and 20.0x over 5m (limit 14.4x)"


def test_a_burst_that_has_stopped_does_not_deny() -> None:
    """1 h burns at 20x, the last 5 m at 0: the short window says the burst is over."""
    measured = traffic({"30d": (1_000_000, 100), "1h": (2000, 40), "5m": (200, 0), "6h": (10000, 10),
                        "30m": (1000, 1)})
    assert decide(measured, "30d", PAIRS, 99.9, 10, 20).allow


def test_a_pair_without_traffic_is_not_judged() -> None:
    measured = traffic({"30d": (1_000_000, 100), "1h": (2000, 40), "5m": (5, 5), "6h": (10000, 10), "30m": (1000, 1)})
    decision = decide(measured, "30d", PAIRS, 99.9, 10, 20)
    assert decision.allow
    assert decision.inputs[2].detail == "not judged: under 20 requests"


def test_no_traffic_over_the_budget_window_denies() -> None:
    measured = traffic({"30d": (3, 0), "1h": (0, 0), "5m": (0, 0), "6h": (0, 0), "30m": (0, 0)})
    decision = decide(measured, "30d", PAIRS, 99.9, 10, 20)
    assert not decision.allow
    assert decision.reason == "error budget cannot be judged: 3 requests in 30d, need 20"


# --- against a real Prometheus -------------------------------------------------------------------------------------


def service(namespace: str, **budget: Any) -> dict[str, Any]:
    config = {"objective": 99.9, "window": "6s", "minRemaining": 10,
              "burnRateWindows": [{"long": "6s", "short": "3s", "burnRate": 14.4}], **budget}
    return {"service": "app", "targets": targets(namespace), "errorBudget": config, "slo": {"minRequests": 20}}


def check(address: str, svc: dict[str, Any]) -> Verdict:
    call = Call("confirm-promotion", svc["targets"]["namespace"], "app", "WaitingPromotion", "abc123", {}, svc,
                "test", datetime.datetime.now(datetime.UTC))

    async def go() -> Verdict:
        prom = Prometheus(address, 5)
        try:
            answer: Verdict = await check_budget(call, prom)
            return answer
        finally:
            await prom.aclose()

    return asyncio.run(go())


def test_healthy_service_has_its_budget(prometheus_stack: Stack) -> None:
    decision = check(prometheus_stack.url, service("healthy"))
    assert decision.allow, decision.reason
    assert decision.reason == "error budget: 100.0% left, policy needs 10%"
    assert decision.inputs[0].samples is not None and decision.inputs[0].samples >= 100  # 2 x 20 rps over ~6 s


def test_failing_canary_spends_the_budget(prometheus_stack: Stack) -> None:
    """The canary fails 30% of 20 rps, the primary none: 15% of the service's requests, against an allowed 20%
    (objective 80): about 25% of the budget left, under the policy's 50%."""
    decision = check(prometheus_stack.url, service("failing", objective=80, minRemaining=50))
    assert not decision.allow
    left = float(decision.reason.removeprefix("error budget: ").split("%")[0])
    assert 10 < left < 40
    assert decision.reason.endswith("% left, policy needs 50%")


def test_failing_canary_burns_the_budget(prometheus_stack: Stack) -> None:
    """Objective 90: 10% allowed, 15% failing = burn 1.5 over both windows, limit 1.2; the budget floor is off."""
    svc = service("failing", objective=90, minRemaining=-1000,
                  burnRateWindows=[{"long": "6s", "short": "3s", "burnRate": 1.2}])
    decision = check(prometheus_stack.url, svc)
    assert not decision.allow
    assert decision.reason.startswith("error budget burning too fast: 1.")
    assert decision.reason.endswith("over 3s (limit 1.2x)")


def test_no_traffic_denies(prometheus_stack: Stack) -> None:
    decision = check(prometheus_stack.url, service("nodata"))
    assert not decision.allow
    assert decision.reason == "error budget cannot be judged: 0 requests in 6s, need 20"


def test_prometheus_down_denies() -> None:
    decision = check(f"http://127.0.0.1:{free_port()}", service("healthy"))
    assert not decision.allow
    assert decision.reason.startswith("error budget cannot be judged: cannot reach prometheus")


def test_no_budget_section_is_not_run() -> None:
    decision = check(f"http://127.0.0.1:{free_port()}", {"targets": targets("healthy")})
    assert (decision.allow, decision.reason) == (True, "no error budget configured")


def test_a_budget_without_objective_denies() -> None:
    svc = service("healthy")
    del svc["errorBudget"]["objective"]
    decision = check(f"http://127.0.0.1:{free_port()}", svc)
    assert not decision.allow
    assert decision.reason == "error budget cannot be judged: bad configuration (KeyError: 'objective')"
