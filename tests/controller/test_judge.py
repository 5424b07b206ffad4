"""The canary judge: the Mann-Whitney U test against published values, the scoring rules on hand-made results, and
whole judgements against a real Prometheus (healthy, failing, low-traffic and no-data canaries)."""

from __future__ import annotations

import asyncio
import datetime
import json
import math
from typing import Any

import pytest
from rollouts.controller.decision import Call, Input, Verdict
from rollouts.controller.judge import MetricResult, check_judge, compare, relative_change, verdict
from rollouts.controller.mannwhitney import mann_whitney_u, median, ranks, u_counts
from rollouts.controller.prom import Prometheus

from .promfixture import Stack, free_port, prometheus_stack, targets

__all__ = ["prometheus_stack"]

# --- Mann-Whitney U ------------------------------------------------------------------------------------------------

# SciPy's documented example (scipy.stats.mannwhitneyu): ages of male and female staff.
MALES, FEMALES = [19, 22, 16, 29, 24], [20, 11, 17, 12]


def test_scipy_documented_example_exact() -> None:
    result = mann_whitney_u([float(v) for v in MALES], [float(v) for v in FEMALES])
    assert result.method == "exact"
    assert result.u == 17.0
    assert result.p == pytest.approx(0.1111111111111111, abs=1e-15)  # 2 * 7/126 by counting, as SciPy documents


def test_scipy_documented_example_asymptotic() -> None:
    result = mann_whitney_u([float(v) for v in MALES], [float(v) for v in FEMALES], method="asymptotic")
    assert result.p == pytest.approx(0.11134688653314041, abs=1e-12)


def test_one_sided_exact() -> None:
    x, y = [float(v) for v in MALES], [float(v) for v in FEMALES]
    assert mann_whitney_u(x, y, "greater").p == pytest.approx(7 / 126)  # U >= 17: U = 20, 19, 18, 18, 17, 17, 17
    assert mann_whitney_u(x, y, "less").p == pytest.approx(1 - 4 / 126)  # U <= 17 = all but U in 18..20


@pytest.mark.parametrize(("n", "critical"), [(5, 2), (10, 23)])
def test_published_critical_values(n: int, critical: int) -> None:
    """Published tables (two-sided, alpha 0.05): n1 = n2 = 5 -> U <= 2, n1 = n2 = 10 -> U <= 23."""
    counts, total = u_counts(n, n), math.comb(2 * n, n)
    assert 2 * sum(counts[: critical + 1]) / total <= 0.05 < 2 * sum(counts[: critical + 2]) / total


def test_u_distribution_counts_small_case() -> None:
    assert u_counts(2, 2) == (1, 1, 2, 1, 1)  # the 6 orderings of xxyy by hand
    assert sum(u_counts(6, 7)) == math.comb(13, 6)


def test_ranks_with_ties() -> None:
    assert ranks([10, 20, 20, 30]) == [1, 2.5, 2.5, 4]
    assert ranks([3, 1, 3, 3]) == [3, 1, 3, 3]


def test_tie_corrected_normal_approximation_by_hand() -> None:
    """x = [1, 2, 2, 3], y = [2, 3, 3, 4]: mid-ranks x = 1, 3, 3, 6 -> R1 = 13, U1 = 13 - 10 = 3; ties of 3 and 3:
    sigma^2 = 16/12 * (9 - 48/56); z = (13 - 8 - 0.5) / sigma; p = 2 * (1 - Phi(z)) = 0.17204."""
    result = mann_whitney_u([1, 2, 2, 3], [2, 3, 3, 4])
    assert result.method == "asymptotic"
    assert result.u == 3.0
    sigma = math.sqrt(16 / 12 * (9 - 48 / 56))
    assert result.p == pytest.approx(math.erfc(4.5 / sigma / math.sqrt(2)), abs=1e-12)
    assert result.p == pytest.approx(0.17204, abs=1e-4)


def test_all_values_tied_cannot_be_told_apart() -> None:
    assert mann_whitney_u([100.0] * 10, [100.0] * 10).p == 1.0


def test_infinities_rank_like_any_value() -> None:
    x = [7.0, 8, 9, 10, 11, math.inf]
    assert mann_whitney_u(x, [1.0, 2, 3, 4, 5, 6], "greater").p == pytest.approx(1 / math.comb(12, 6))


def test_median() -> None:
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 2, 3]) == 2.5


# --- scoring -------------------------------------------------------------------------------------------------------


def result(name: str, outcome: str, group: str = "errors", weight: float = 1, critical: bool = False) -> MetricResult:
    return MetricResult(name, group, weight, critical, f"q_{name}", outcome, reason=f"{name}: {outcome}")


def judge_config(**changes: Any) -> dict[str, Any]:
    return {"window": "6s", "minRequests": 0, "pass": 80, "marginal": 60, "noData": "pass", **changes}


def decide(results: list[MetricResult], **changes: Any) -> Verdict:
    return verdict(results, judge_config(**changes), "6s", Input("canary requests"))


def test_all_pass() -> None:
    decision = decide([result("a", "pass"), result("b", "pass")])
    assert (decision.allow, decision.extra["class"], decision.extra["score"]) == (True, "Pass", 100.0)
    assert decision.reason == "canary passed: score 100 (pass 80, marginal 60)"


def test_groups_are_weighted() -> None:
    """errors: 1 of 2 pass -> 50, weight 3; latency: 1 of 1 -> 100, weight 1; (50*3 + 100*1) / 4 = 62.5: Marginal."""
    results = [result("a", "pass"), result("b", "high"), result("c", "pass", group="latency")]
    decision = decide(results, groups={"errors": 3, "latency": 1})
    assert decision.extra["score"] == 62.5
    assert decision.extra["groups"] == {"errors": 50.0, "latency": 100.0}
    assert (decision.allow, decision.extra["class"]) == (True, "Marginal")
    assert decision.reason == "canary marginal: score 62 (pass 80, marginal 60); b: high"


def test_default_group_weight_is_the_sum_of_metric_weights() -> None:
    """errors: a (w 3) passes, b (w 1) fails -> 75, weight 4; latency: fails -> 0, weight 1; 300/5 = 60."""
    results = [result("a", "pass", weight=3), result("b", "low"), result("c", "high", group="latency")]
    assert decide(results).extra["score"] == 60.0


def test_fail_below_marginal() -> None:
    decision = decide([result("a", "pass"), result("b", "high"), result("c", "low")])
    assert not decision.allow
    assert decision.extra["class"] == "Fail"
    assert decision.reason.startswith("canary failed: score 33")


def test_a_critical_failure_forces_zero() -> None:
    results = [result("a", "low", critical=True)] + [result(f"p{i}", "pass") for i in range(9)]
    decision = decide(results)
    assert (decision.allow, decision.extra["score"], decision.extra["class"]) == (False, 0.0, "Fail")
    assert decision.reason == "critical metric failed: a: low"


@pytest.mark.parametrize(("policy", "allow", "klass"), [("pass", True, "Pass"), ("fail", True, "Pass"),
                                                        ("hold", False, "NoData")])
def test_no_data_policies(policy: str, allow: bool, klass: str) -> None:
    results = [result("a", "nodata")] + [result(f"p{i}", "pass") for i in range(4)]
    decision = decide(results, noData=policy)
    assert (decision.allow, decision.extra["class"]) == (allow, klass)
    if policy == "hold":
        assert decision.reason == "holding: no data for a in 6s (noData: hold)"


def test_no_data_fail_counts_against_the_score() -> None:
    decision = decide([result("a", "nodata")] + [result(f"p{i}", "pass") for i in range(4)], noData="fail")
    assert decision.extra["score"] == 80.0
    assert decision.allow  # 80 >= pass 80: one metric of five without data is not half


def test_half_the_metrics_without_data_force_fail() -> None:
    results = [result("a", "nodata"), result("b", "nodata"), result("c", "pass"), result("d", "pass")]
    decision = decide(results, noData="fail", **{"pass": 40, "marginal": 10})
    assert (decision.allow, decision.extra["class"], decision.extra["score"]) == (False, "Fail", 0.0)
    assert decision.reason == "no data for 2 of 4 metrics (noData: fail)"


def test_critical_metric_without_data_fails_under_fail_policy() -> None:
    decision = decide([result("a", "nodata", critical=True), result("b", "pass"), result("c", "pass")],
                      noData="fail")
    assert decision.reason == "critical metric failed: a: nodata"


def test_relative_change() -> None:
    assert relative_change(110, 100) == pytest.approx(0.1)
    assert relative_change(90, -100) == pytest.approx(1.9)
    assert relative_change(0, 0) == 0
    assert relative_change(1, 0) == math.inf  # errors where the primary has none (Kayenta#799)


# --- against a real Prometheus -------------------------------------------------------------------------------------

SUCCESS_RATE = ('sum(rate(response_total{namespace="{{ namespace }}", deployment="{{ deployment }}", '
                'direction="inbound", classification!="failure"}[3s])) / sum(rate(response_total{namespace='
                '"{{ namespace }}", deployment="{{ deployment }}", direction="inbound"}[3s])) * 100')
LATENCY_P99 = ('histogram_quantile(0.99, sum by (le) (rate(response_latency_ms_bucket{namespace="{{ namespace }}", '
               'deployment=~"{{ target }}", direction="inbound"}[3s])))')
ABSENT = 'sum(rate(queue_lag_seconds{namespace="{{ namespace }}", deployment="{{ deployment }}"}[{{ window }}]))'


def service(namespace: str, **judge: Any) -> dict[str, Any]:
    metrics = [{"name": "success-rate", "group": "errors", "weight": 1, "direction": "decrease", "critical": True,
                "query": SUCCESS_RATE, "allowedChange": 0.05},
               {"name": "latency-p99", "group": "latency", "weight": 1, "direction": "increase",
                "query": LATENCY_P99, "allowedChange": 0.2}]
    config = {"window": "6s", "minRequests": 50, "pass": 80, "marginal": 60, "noData": "hold", "metrics": metrics,
              **judge}
    return {"service": "app", "targets": targets(namespace), "judge": config}


def judge(address: str, svc: dict[str, Any], timeout: float = 5.0) -> Verdict:
    call = Call("rollout", svc["targets"]["namespace"], "app", "Progressing", "abc123", {}, svc, "test",
                datetime.datetime.now(datetime.UTC))

    async def go() -> Verdict:
        prom = Prometheus(address, timeout)
        try:
            answer: Verdict = await check_judge(call, prom)
            return answer
        finally:
            await prom.aclose()

    return asyncio.run(go())


def test_healthy_canary_passes(prometheus_stack: Stack) -> None:
    decision = judge(prometheus_stack.url, service("healthy"))
    assert decision.allow, decision.reason
    assert (decision.extra["class"], decision.extra["score"]) == ("Pass", 100.0)
    traffic, success, latency = decision.inputs
    assert traffic.value is not None and traffic.value >= 50
    assert success.name == "success-rate" and success.value == 100.0 and success.samples and success.samples >= 4
    assert 'deployment="app"' in success.query and "{{" not in success.query
    assert 'deployment="app-primary"' in success.detail  # the primary's query, for the evidence
    assert decision.extra["metrics"][0]["primaryQuery"] == success.query.replace('"app"', '"app-primary"')
    assert latency.value == pytest.approx(19.9, abs=0.2)  # 20 ms sits in Linkerd's (10, 20] bucket


def test_failing_canary_fails_with_the_reasons(prometheus_stack: Stack) -> None:
    decision = judge(prometheus_stack.url, service("failing"))
    assert not decision.allow
    assert decision.extra["class"] == "Fail"
    assert decision.reason.startswith("critical metric failed: success-rate: canary ")
    assert "lower than the primary beyond 5%" in decision.reason
    metrics = {m["name"]: m for m in decision.extra["metrics"]}
    assert metrics["success-rate"]["outcome"] == "low"
    assert metrics["success-rate"]["canary"] == pytest.approx(70, abs=5)
    assert metrics["success-rate"]["primary"] == 100.0
    assert metrics["success-rate"]["p"] < 0.02
    assert metrics["latency-p99"]["outcome"] == "high"
    assert metrics["latency-p99"]["canary"] == pytest.approx(299, abs=1)


def test_failing_canary_without_critical_metrics_fails_on_score(prometheus_stack: Stack) -> None:
    svc = service("failing")
    for metric in svc["judge"]["metrics"]:
        metric["critical"] = False
    decision = judge(prometheus_stack.url, svc)
    assert not decision.allow
    assert decision.reason.startswith("canary failed: score 0 (pass 80, marginal 60); success-rate: canary")


def test_low_traffic_says_so_and_does_not_fail(prometheus_stack: Stack) -> None:
    decision = judge(prometheus_stack.url, service("lowtraffic"))
    assert decision.allow
    assert decision.extra["class"] == "NoData"
    assert decision.reason.startswith("not enough traffic: ")
    assert decision.reason.endswith(" requests in 6s, need 50")
    assert int(decision.reason.split()[3]) <= 3  # 0.2 requests a second


def test_no_traffic_at_all_is_low_traffic(prometheus_stack: Stack) -> None:
    decision = judge(prometheus_stack.url, service("nodata"))
    assert decision.reason == "not enough traffic: 0 requests in 6s, need 50"


@pytest.mark.parametrize(("policy", "allow", "reason"), [
    ("hold", False, "holding: no data for queue-lag in 6s (noData: hold)"),
    ("pass", True, "canary passed: score 100 (pass 80, marginal 60)"),
])
def test_a_metric_without_data(prometheus_stack: Stack, policy: str, allow: bool, reason: str) -> None:
    svc = service("healthy", noData=policy)
    svc["judge"]["metrics"].append({"name": "queue-lag", "group": "queue", "direction": "increase", "query": ABSENT})
    decision = judge(prometheus_stack.url, svc)
    assert (decision.allow, decision.reason) == (allow, reason)
    lag = decision.inputs[-1]
    assert lag.name == "queue-lag" and lag.value is None and lag.samples == 0
    assert "[6s]" in lag.query
    assert lag.detail.startswith("queue-lag: no data for the canary and primary in 6s; primary query: sum(rate(")


def test_prometheus_down_denies() -> None:
    decision = judge(f"http://127.0.0.1:{free_port()}", service("healthy"))
    assert not decision.allow
    assert decision.reason.startswith("judge cannot decide: cannot reach prometheus at http://127.0.0.1:")


def test_a_name_that_would_inject_promql_is_refused(prometheus_stack: Stack) -> None:
    svc = service("healthy")
    svc["targets"]["canary"] = 'app"} or vector(1000) or x{a="'
    decision = judge(prometheus_stack.url, svc)
    assert not decision.allow
    assert decision.reason.startswith("judge cannot decide: refusing 'app\"} or vector(1000)")


def test_an_unknown_placeholder_is_refused(prometheus_stack: Stack) -> None:
    svc = service("healthy", minRequests=0)
    svc["judge"]["metrics"][0]["query"] = "sum(x{d=\"{{ deploy }}\"})"
    decision = judge(prometheus_stack.url, svc)
    assert not decision.allow
    assert "unknown placeholder {{ deploy }}" in decision.reason


def test_no_judge_section_is_not_run() -> None:
    assert judge(f"http://127.0.0.1:{free_port()}", {"targets": targets("healthy")}).reason == "no judge configured"


def test_no_targets_denies() -> None:
    svc = service("healthy")
    del svc["targets"]
    svc["targets"] = {"namespace": "healthy"}
    decision = judge(f"http://127.0.0.1:{free_port()}", svc)
    assert not decision.allow
    assert decision.reason == "judge cannot decide: bad judge configuration (KeyError: 'canary')"


def test_infinite_values_stay_strict_json() -> None:
    """Evidence is written with allow_nan=False: an infinite change (primary 0) or median must not break it."""
    base = result("errors", "pass")
    judged = compare_for_test(base, [1.0, 2, 3, 4, 5, 6, math.inf], [0.0] * 7)
    decision = decide([judged])
    json.dumps(decision.extra, allow_nan=False)
    json.dumps([vars(i) for i in decision.inputs], allow_nan=False)
    assert decision.extra["metrics"][0]["change"] == "+Inf"


def compare_for_test(base: MetricResult, canary: list[float], primary: list[float]) -> MetricResult:
    return compare(base, canary, primary, "increase", 0.1, 0.02)
