"""The error-budget gate of ``confirm-promotion``: promote only while the service has budget left and is not
burning it fast.

The service's requests are Linkerd's ``response_total`` of its primary and canary deployments, inbound; failures
are ``classification="failure"``. For a window W, error ratio = failures / requests over W, and
burn rate = error ratio / (1 - objective) (1 = spending the budget exactly over the budget window).

Two checks, both must pass:

- Multiwindow burn rate (Google SRE workbook, "Alerting on SLOs", table 5-8): a pair (long, short) denies when
  **both** windows burn faster than its limit: the long window shows the spend is significant, the short one that it
  is still going on (so a burst that has stopped does not block promotion for an hour). The pairs are the workbook's
  two paging pairs, for a 30-day budget: 1h/5m at 14.4 (2% of the budget spent in an hour) and 6h/30m at 6 (5% in
  six hours). The ticket pairs (1d/2h at 3, 3d/6h at 1) are left out: a promotion is a paging-grade decision taken
  now, and a 3-day window would block the next release for days after one bad one. For another budget window the
  limits are scaled so each pair still means "2% (5%) of the budget in 1h (6h)": limit = share x window / long.
  ``errorBudget.burnRateWindows`` ([{long, short, burnRate}]) replaces the pairs (tests use seconds).
- Budget remaining over the budget window: 1 - error ratio / (1 - objective); denied under ``minRemaining`` %.

Traffic: a window with fewer than ``minRequests`` requests (``errorBudget.minRequests``, else ``slo.minRequests``,
at least 1) has no meaningful ratio. A burn pair whose windows lack traffic is not judged (no traffic now is no
burning now). The budget window itself lacking traffic denies: at promotion the canary has just been analysed
under traffic, so a service with (almost) no requests over the whole budget window means the metrics are missing,
and a promotion gate that cannot see the budget fails closed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .decision import Call, Input, Verdict
from .prom import Prometheus, PrometheusError, gather_all, label_regex, label_value, prom_duration

CHECK = "error-budget"
_PART = re.compile(r"([0-9]+)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
# (long, short, share of the budget spent in the long window) from the SRE workbook's paging pairs.
WORKBOOK_PAIRS: tuple[tuple[str, str, float], ...] = (("1h", "5m", 0.02), ("6h", "30m", 0.05))


@dataclass(frozen=True)
class BurnPair:
    long: str
    short: str
    limit: float


@dataclass(frozen=True)
class Traffic:
    """Requests and failures over one window."""

    window: str
    query: str
    requests: float
    failures: float

    @property
    def error_ratio(self) -> float:
        return self.failures / self.requests if self.requests > 0 else 0.0


def burn_rate(error_ratio: float, objective: float) -> float:
    """error ratio / allowed error ratio; ``objective`` in percent (99.9)."""
    return error_ratio / (1 - objective / 100)


def budget_remaining(error_ratio: float, objective: float) -> float:
    """The share of the budget left over the budget window (1.0 = untouched, below 0 = overspent)."""
    return 1 - burn_rate(error_ratio, objective)


def burn_pairs(budget: dict[str, Any]) -> list[BurnPair]:
    """The configured pairs, or the workbook's paging pairs scaled to the budget window."""
    if budget.get("burnRateWindows"):
        return [BurnPair(prom_duration(p["long"]), prom_duration(p["short"]), float(p["burnRate"]))
                for p in budget["burnRateWindows"]]
    window = seconds_with_days(budget.get("window", "30d"))
    return [BurnPair(long, short, share * window / seconds_with_days(long)) for long, short, share in WORKBOOK_PAIRS]


def seconds_with_days(text: str) -> float:
    """Budget windows may use days: ``30d``, ``7d12h``."""
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(prom_duration(text)))


def traffic_query(targets: dict[str, str], window: str) -> str:
    selector = (f'namespace="{label_value(targets["namespace"])}", '
                f'deployment=~"{label_regex([targets["primary"], targets["canary"]])}", direction="inbound"')
    return f"sum by (classification) (increase(response_total{{{selector}}}[{window}]))"


async def measure(prom: Prometheus, targets: dict[str, str], window: str, at: float) -> Traffic:
    query = traffic_query(targets, window)
    samples = await prom.query(query, at)
    requests = sum(s.value for s in samples if s.value == s.value)
    failures = sum(s.value for s in samples if s.labels.get("classification") == "failure" and s.value == s.value)
    return Traffic(window, query, requests, failures)


async def check_budget(call: Call, prom: Prometheus) -> Verdict:
    """Allow promotion when the budget left is at least ``minRemaining`` % and no burn pair is over its limit."""
    budget, targets = call.service.get("errorBudget"), call.service.get("targets")
    if not budget:
        return Verdict.ok(CHECK, "no error budget configured")
    try:
        if not isinstance(targets, dict) or not isinstance(budget, dict):
            raise ValueError("the service has no targets")
        objective = float(budget["objective"])
        window = prom_duration(budget.get("window", "30d"))
        pairs = burn_pairs(budget)
        needed = max(1, int(budget.get("minRequests", (call.service.get("slo") or {}).get("minRequests", 1))))
        windows = sorted({window, *(p.long for p in pairs), *(p.short for p in pairs)})
        at = call.now.timestamp()
        measured = await gather_all(*(measure(prom, targets, w, at) for w in windows))
    except PrometheusError as error:
        return Verdict.deny(CHECK, f"error budget cannot be judged: {error.reason}")
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        return Verdict.deny(CHECK, f"error budget cannot be judged: bad configuration ({type(error).__name__}: "
                                   f"{error})")
    by_window = dict(zip(windows, measured, strict=True))
    return decide(by_window, window, pairs, objective, float(budget.get("minRemaining", 0)), needed)


def decide(by_window: dict[str, Traffic], window: str, pairs: list[BurnPair], objective: float,
           min_remaining: float, needed: int) -> Verdict:
    """The decision from measured traffic (pure: the unit tests feed it numbers)."""
    whole = by_window[window]
    remaining = budget_remaining(whole.error_ratio, objective)
    inputs = [Input("budget remaining", whole.query, window, round(remaining * 100, 3), f">= {min_remaining:g}%",
                    round(whole.requests), whole.requests >= needed and remaining * 100 >= min_remaining,
                    f"{round(whole.failures)} failures in {round(whole.requests)} requests, objective {objective:g}%")]
    if whole.requests < needed:
        return Verdict.deny(CHECK, f"error budget cannot be judged: {round(whole.requests)} requests in {window}, "
                                   f"need {needed}", tuple(inputs))
    burning: list[str] = []
    for pair in pairs:
        long, short = by_window[pair.long], by_window[pair.short]
        rates = burn_rate(long.error_ratio, objective), burn_rate(short.error_ratio, objective)
        judged = long.requests >= needed and short.requests >= needed
        over = judged and rates[0] > pair.limit and rates[1] > pair.limit
        for traffic, rate in zip((long, short), rates, strict=True):
            inputs.append(Input(f"burn rate {traffic.window}", traffic.query, traffic.window, round(rate, 3),
                                f"<= {pair.limit:.3g}x (with {pair.long}/{pair.short})", round(traffic.requests),
                                not over, "" if judged else f"not judged: under {needed} requests"))
        if over:
            burning.append(f"{rates[0]:.1f}x over {pair.long} and {rates[1]:.1f}x over {pair.short} "
                           f"(limit {pair.limit:.3g}x)")
    left = f"{_pct(remaining)} left"
    if remaining * 100 < min_remaining:
        return Verdict.deny(CHECK, f"error budget: {left}, policy needs {min_remaining:g}%", tuple(inputs),
                            remaining=remaining)
    if burning:
        return Verdict.deny(CHECK, f"error budget burning too fast: {burning[0]}", tuple(inputs),
                            remaining=remaining)
    return Verdict.ok(CHECK, f"error budget: {left}, policy needs {min_remaining:g}%", tuple(inputs),
                      remaining=remaining)


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"
