"""The ``pre-rollout`` checks: the primary (the rollback target) meets the service's SLO, and mTLS covers its
traffic. A rollout that starts from an unhealthy primary has nothing safe to roll back to, and a canary judged
against a sick primary looks good for the wrong reason.

Both read Linkerd's proxy metrics of the primary deployment, inbound, over ``slo.interval``:

- success rate = requests without ``classification="failure"`` / all requests x 100 (``response_total``), held
  against ``slo.successRate``; p99 (and p95 when set) = ``histogram_quantile`` over
  ``response_latency_ms_bucket`` (milliseconds), held against ``slo.latencyP99`` / ``slo.latencyP95``;
- mTLS share = requests with ``tls="true"`` / all requests, held against ``mtls.minShare`` (0..1). Linkerd marks
  the rest ``tls="no_identity"`` with a ``no_tls_reason``.

Fewer than ``slo.minRequests`` requests (at least 1): not judged, allowed with the reason stated ("not enough
traffic to judge ..."). A primary that serves nothing is no worse a rollback target, and the first rollout of a
new service must be able to start; the canary's own judge and the promotion's error budget still need traffic.
With traffic but no latency histogram, or Prometheus failing, the check cannot decide and denies.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from ..durations import milliseconds
from .decision import Call, Input, Verdict
from .prom import Prometheus, PrometheusError, gather_all, label_value, prom_duration

HEALTH = "primary-health"
MTLS = "mtls"


def primary_selector(targets: dict[str, str]) -> str:
    return (f'namespace="{label_value(targets["namespace"])}", deployment="{label_value(targets["primary"])}", '
            f'direction="inbound"')


def by_label_query(targets: dict[str, str], label: str, interval: str) -> str:
    return f"sum by ({label}) (increase(response_total{{{primary_selector(targets)}}}[{interval}]))"


def quantile_query(targets: dict[str, str], quantile: float, interval: str) -> str:
    return (f"histogram_quantile({quantile:g}, sum by (le) "
            f"(rate(response_latency_ms_bucket{{{primary_selector(targets)}}}[{interval}])))")


async def totals_by(prom: Prometheus, query: str, label: str, at: float) -> dict[str, float]:
    """Requests per value of ``label`` (NaN samples dropped)."""
    out: dict[str, float] = {}
    for sample in await prom.query(query, at):
        if not math.isnan(sample.value):
            key = sample.labels.get(label, "")
            out[key] = out.get(key, 0.0) + sample.value
    return out


async def scalar(prom: Prometheus, query: str, at: float) -> float:
    """The single value of an aggregated query; NaN when there is none."""
    samples = await prom.query(query, at)
    return samples[0].value if samples else math.nan


def _settings(call: Call) -> tuple[dict[str, Any], dict[str, str], str, int]:
    slo = call.service.get("slo") or {}
    interval = prom_duration(slo.get("interval") or "1m")
    targets = call.service.get("targets")
    if not isinstance(targets, dict):
        raise ValueError("the service has no targets")
    return slo, targets, interval, max(1, int(slo.get("minRequests") or 1))


def _low_traffic(check: str, what: str, requests: float, interval: str, needed: int, query: str) -> Verdict | None:
    if requests >= needed:
        return None
    traffic = Input("primary requests", query, interval, requests, f">= {needed}", round(requests), False,
                    "not judged")
    return Verdict.ok(check, f"not enough traffic to judge {what}: {round(requests)} requests in {interval}, "
                             f"need {needed}", (traffic,))


async def check_primary_health(call: Call, prom: Prometheus) -> Verdict:
    """Success rate and latency quantiles of the primary against the SLO."""
    if not call.service.get("slo"):
        return Verdict.ok(HEALTH, "no SLO configured")
    try:
        slo, targets, interval, needed = _settings(call)
        at = call.now.timestamp()
        traffic_query = by_label_query(targets, "classification", interval)
        latency = {name: slo[key] for name, key in (("p99", "latencyP99"), ("p95", "latencyP95")) if slo.get(key)}
        quantiles = {name: quantile_query(targets, 0.99 if name == "p99" else 0.95, interval) for name in latency}
        counts, values = await asyncio.gather(totals_by(prom, traffic_query, "classification", at),
                                              gather_all(*(scalar(prom, q, at) for q in quantiles.values())),
                                              return_exceptions=True)  # both finish before an error is raised
        if isinstance(counts, BaseException):
            raise counts
        if isinstance(values, BaseException):
            raise values
    except PrometheusError as error:
        return Verdict.deny(HEALTH, f"primary health cannot be judged: {error.reason}")
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        return Verdict.deny(HEALTH, f"primary health cannot be judged: bad configuration ({error})")
    primary = targets["primary"]
    requests = sum(counts.values())
    low = _low_traffic(HEALTH, f"{primary}", requests, interval, needed, traffic_query)
    if low:
        return low
    failures: list[str] = []
    rate = 100 * (requests - counts.get("failure", 0.0)) / requests
    wanted = float(slo.get("successRate", 0))
    inputs = [Input("primary success rate", traffic_query, interval, round(rate, 4), f">= {wanted:g}%",
                    round(requests), rate >= wanted)]
    if rate < wanted:
        failures.append(f"success rate {rate:.2f}% in {interval}, SLO {wanted:g}%")
    for (name, budget), query, value in zip(latency.items(), quantiles.values(), values, strict=True):
        limit = milliseconds(budget)
        ok = not math.isnan(value) and value <= limit
        inputs.append(Input(f"primary latency {name}", query, interval, value if math.isfinite(value) else None,
                            f"<= {limit}ms", round(requests), ok, "" if math.isfinite(value) else _ms(value)))
        if math.isnan(value):
            failures.append(f"no latency data for {name} in {interval}")
        elif not ok:
            failures.append(f"{name} latency {_ms(value)} in {interval}, SLO {budget}")
    if failures:
        return Verdict.deny(HEALTH, f"primary {primary} is unhealthy: {'; '.join(failures)}", tuple(inputs))
    return Verdict.ok(HEALTH, f"primary {primary} is healthy: success rate {rate:.2f}% over {round(requests)} "
                              f"requests in {interval}", tuple(inputs))


async def check_mtls(call: Call, prom: Prometheus) -> Verdict:
    """The share of the primary's inbound requests that arrived over mTLS, against ``mtls.minShare``."""
    mtls = call.service.get("mtls")
    if not mtls:
        return Verdict.ok(MTLS, "no mTLS policy configured")
    try:
        _, targets, interval, needed = _settings(call)
        wanted = float(mtls.get("minShare", 1.0))
        query = by_label_query(targets, "tls", interval)
        counts = await totals_by(prom, query, "tls", call.now.timestamp())
    except PrometheusError as error:
        return Verdict.deny(MTLS, f"mTLS cannot be judged: {error.reason}")
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        return Verdict.deny(MTLS, f"mTLS cannot be judged: bad configuration ({error})")
    primary = targets["primary"]
    requests = sum(counts.values())
    low = _low_traffic(MTLS, f"mTLS of {primary}", requests, interval, needed, query)
    if low:
        return low
    share = counts.get("true", 0.0) / requests
    ok = share >= wanted - 1e-9
    said = f"mTLS covers {share:.1%} of {primary}'s inbound requests in {interval}"
    inputs = (Input("mtls share", query, interval, round(share, 4), f">= {wanted:g}", round(requests), ok,
                    ", ".join(f"tls={k or 'absent'}: {round(v)}" for k, v in sorted(counts.items()))),)
    if not ok:
        return Verdict.deny(MTLS, f"{said}, policy needs {wanted:.0%}", inputs)
    return Verdict.ok(MTLS, said, inputs)


def _ms(value: float) -> str:
    if math.isnan(value):
        return "no data"
    return "above the largest bucket" if math.isinf(value) else f"{value:.0f}ms"
