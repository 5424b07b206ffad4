"""The pre-rollout checks against a real Prometheus: the primary's SLO (success rate, p99) and its mTLS share."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from rollouts.controller.decision import Call, Verdict
from rollouts.controller.health import check_mtls, check_primary_health, quantile_query
from rollouts.controller.prom import Prometheus

from .promfixture import Stack, free_port, prometheus_stack, targets

__all__ = ["prometheus_stack"]

Check = Callable[[Call, Prometheus], Awaitable[Verdict]]


def service(namespace: str, **slo: Any) -> dict[str, Any]:
    return {"service": "app", "targets": targets(namespace), "mtls": {"minShare": 1.0},
            "slo": {"successRate": 99.0, "latencyP99": "500ms", "latencyP95": None, "interval": "6s",
                    "minRequests": 20, **slo}}


def run(check: Check, address: str, svc: dict[str, Any]) -> Verdict:
    namespace = svc.get("targets", {}).get("namespace", "shop")
    call = Call("pre-rollout", namespace, "app", "Progressing", "abc123", {}, svc, "test",
                datetime.datetime.now(datetime.UTC))

    async def go() -> Verdict:
        prom = Prometheus(address, 5)
        try:
            return await check(call, prom)
        finally:
            await prom.aclose()

    return asyncio.run(go())


def test_healthy_primary(prometheus_stack: Stack) -> None:
    decision = run(check_primary_health, prometheus_stack.url, service("healthy"))
    assert decision.allow, decision.reason
    assert decision.reason.startswith("primary app-primary is healthy: success rate 100.00% over ")
    rate, p99 = decision.inputs
    assert rate.value == 100.0 and rate.threshold == ">= 99%"
    assert p99.value == pytest.approx(19.9, abs=0.2) and p99.threshold == "<= 500ms"
    assert 'deployment="app-primary"' in p99.query and "response_latency_ms_bucket" in p99.query


def test_unhealthy_primary_is_denied_with_both_reasons(prometheus_stack: Stack) -> None:
    decision = run(check_primary_health, prometheus_stack.url, service("unhealthy"))
    assert not decision.allow
    assert decision.reason.startswith("primary app-primary is unhealthy: success rate 9")
    assert ", SLO 99%; p99 latency 995ms in 6s, SLO 500ms" in decision.reason  # 500 + 0.99 * 500
    assert [i.passed for i in decision.inputs] == [False, False]


def test_p95_is_checked_when_set(prometheus_stack: Stack) -> None:
    decision = run(check_primary_health, prometheus_stack.url,
                   service("healthy", latencyP99=None, latencyP95="15ms"))
    assert not decision.allow
    assert decision.reason.endswith("p95 latency 20ms in 6s, SLO 15ms")  # 10 + 0.95 * 10 = 19.5


def test_a_primary_without_traffic_is_not_judged(prometheus_stack: Stack) -> None:
    decision = run(check_primary_health, prometheus_stack.url, service("nodata"))
    assert decision.allow
    assert decision.reason == "not enough traffic to judge app-primary: 0 requests in 6s, need 20"


def test_prometheus_down_denies() -> None:
    decision = run(check_primary_health, f"http://127.0.0.1:{free_port()}", service("healthy"))
    assert not decision.allow
    assert decision.reason.startswith("primary health cannot be judged: cannot reach prometheus")


def test_full_mtls(prometheus_stack: Stack) -> None:
    decision = run(check_mtls, prometheus_stack.url, service("healthy"))
    assert decision.allow
    assert decision.reason == "mTLS covers 100.0% of app-primary's inbound requests in 6s"
    assert decision.inputs[0].value == 1.0


def test_partial_mtls_is_denied(prometheus_stack: Stack) -> None:
    decision = run(check_mtls, prometheus_stack.url, service("mtlspartial"))
    assert not decision.allow
    share = float(decision.reason.removeprefix("mTLS covers ").split("%")[0])
    assert share == pytest.approx(75, abs=3)
    assert decision.reason.endswith("of app-primary's inbound requests in 6s, policy needs 100%")
    assert "tls=no_identity: " in decision.inputs[0].detail


def test_partial_mtls_within_a_lower_policy(prometheus_stack: Stack) -> None:
    svc = service("mtlspartial")
    svc["mtls"]["minShare"] = 0.7
    assert run(check_mtls, prometheus_stack.url, svc).allow


def test_mtls_without_traffic_is_not_judged(prometheus_stack: Stack) -> None:
    decision = run(check_mtls, prometheus_stack.url, service("nodata"))
    assert decision.allow
    assert decision.reason == "not enough traffic to judge mTLS of app-primary: 0 requests in 6s, need 20"


def test_the_quantile_query_uses_linkerd_names() -> None:
    assert quantile_query(targets("shop"), 0.99, "1m") == (
        'histogram_quantile(0.99, sum by (le) (rate(response_latency_ms_bucket{namespace="shop", '
        'deployment="app-primary", direction="inbound"}[1m])))')


def test_sections_absent_are_not_run() -> None:
    svc = {"targets": targets("healthy")}
    assert run(check_primary_health, f"http://127.0.0.1:{free_port()}", svc).reason == "no SLO configured"
    assert run(check_mtls, f"http://127.0.0.1:{free_port()}", svc).reason == "no mTLS policy configured"


def test_no_targets_denies() -> None:
    svc = service("healthy")
    del svc["targets"]
    decision = run(check_mtls, f"http://127.0.0.1:{free_port()}", svc)
    assert not decision.allow
    assert decision.reason == "mTLS cannot be judged: bad configuration (the service has no targets)"
