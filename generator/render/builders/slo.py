"""The SLO's Prometheus rules: one PrometheusRule (prometheus-operator, monitoring.coreos.com/v1) per service and
environment, with recording and alerting rules in the multiwindow, multi-burn-rate shape of the Google SRE workbook
("Alerting on SLOs", table 5-8), as Sloth and Pyrra generate them.

Per SLO (a rule group): the error ratio recorded over 5m, 30m, 1h, 2h, 6h, 1d and 3d
(``slo:sli_error:ratio_rate<window>``, Sloth's names, told apart by the labels ``slo``, ``service``,
``environment``, ``namespace``), then two alerts, both named ``ErrorBudgetBurn``: severity ``page`` when both
windows of a paging pair burn faster than the pair's limit (1h and 5m at 14.4x, 6h and 30m at 6x for a 30-day
budget), severity ``ticket`` for the ticket pairs (1d and 2h at 3x, 3d and 6h at 1x). burn rate = error ratio /
(1 - objective); a pair's limit means "this share of the budget spent in the long window" (2%, 5%, 10%, 10%), so
for another budget window it is scaled as the analysis controller's promotion gate scales it
(controller/budget.py): limit = share x budget window / long window; a pair whose long window exceeds the budget
window is left out.

The SLOs:

- **availability**: failed requests / all requests, from Linkerd's ``response_total`` of the primary and canary
  pods, inbound (``classification="failure"``, as the success-rate MetricTemplate counts them). The objective is
  ``policy.errorBudget.objective`` over ``policy.errorBudget.window`` (the budget the promotion gate holds to),
  else ``slo.successRate`` over 30 days.
- **latency-p99 / latency-p95** (``slo.latencyP99`` / ``slo.latencyP95``): "p99 under 500ms" read as "99% of the
  requests take at most 500ms", the bad events being the requests slower than the threshold, from
  ``response_latency_ms_bucket`` / ``_count``, over the same window as availability. A histogram counts requests
  up to its bucket bounds only: the threshold used is the largest bound of the Linkerd proxy's buckets at or under
  the SLO's (linkerd2-proxy linkerd/metrics/src/latency.rs, ``MILLIS_BOUNDS``), the same for every SLO the
  examples have (300ms, 500ms, 1s) and stricter otherwise; the description says which. The ``le`` matcher takes
  both spellings of a bound: Prometheus 3 ingests ``le="500"`` as ``le="500.0"`` (prometheus docs/migration.md,
  "le and quantile label values").
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NamedTuple

from ...durations import milliseconds
from ..model import Built, Service
from .develop import DEMO, RUNBOOK_FILE

if TYPE_CHECKING:
    from ...spec.types import SLO, ErrorBudget, Policy

FILE = "slo-rules.yaml"
RUNBOOK = "RUNBOOK.md"  # the service's runbook, next to its manifests (issue 11, item 3)
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (severity, long window, short window, share of the budget spent in the long window): SRE workbook table 5-8
PAIRS: tuple[tuple[str, str, str, Fraction], ...] = (
    ("page", "1h", "5m", Fraction(2, 100)),
    ("page", "6h", "30m", Fraction(5, 100)),
    ("ticket", "1d", "2h", Fraction(10, 100)),
    ("ticket", "3d", "6h", Fraction(10, 100)),
)
DEFAULT_WINDOW = "30d"
# the upper bounds (ms) of the Linkerd proxy's latency histograms (linkerd2-proxy linkerd/metrics/src/latency.rs)
LINKERD_BUCKETS_MS = (1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1_000, 2_000, 3_000, 4_000,
                      5_000, 10_000, 20_000, 30_000, 40_000, 50_000)
LATENCIES = (("latencyP99", "latency-p99", "p99", Decimal(99)), ("latencyP95", "latency-p95", "p95", Decimal(95)))
_HOURS = {"m": Fraction(1, 60), "h": Fraction(1), "d": Fraction(24)}


class Objective(NamedTuple):
    """One SLO of a service: its name (label ``slo``), objective (percent), budget window, the PromQL of its error
    ratio over a window (``{window}`` placeholder), what its bad events are (for the alert texts), its origin."""

    slo: str
    objective: Decimal
    window: str
    errors: str
    bad: str
    origin: tuple[str | int, ...]


def hours(window: str) -> Fraction:
    """``5m``, ``6h``, ``30d`` -> hours."""
    return int(window[:-1]) * _HOURS[window[-1]]


def number(value: Fraction | Decimal) -> str:
    """A PromQL number literal: 14.4, 6, 0.001 (a limit that does not end in decimals: 6 significant digits)."""
    if isinstance(value, Fraction):
        value = Decimal(format(float(value), ".6g"))
    return format(value.normalize(), "f")


def runbook_path(svc: Service) -> str:
    """The service's runbook in this environment, as a path in the GitOps repository (the develop pack's demo has
    its own, beside its manifests)."""
    if (svc.environment, svc.name) == (DEMO["environment"], DEMO["metadata"]["name"]):
        return RUNBOOK_FILE
    return f"flux/apps/{svc.environment}/{svc.name}/{RUNBOOK}"


def _selector(svc: Service, extra: str = "") -> str:
    # names and namespaces are DNS-1123 labels (the spec schema): nothing to escape in a value or a regex
    return (f'namespace="{svc.namespace}", deployment=~"{svc.name}|{svc.name}-primary", '
            f'direction="inbound"{extra}')


def objectives(svc: Service) -> list[Objective]:
    """The service's SLOs: availability, then the latencies the spec sets."""
    slo: SLO | dict[str, Any] = svc.spec.get("slo") or {}
    policy: Policy | dict[str, Any] = svc.spec.get("policy") or {}
    budget: ErrorBudget | dict[str, Any] = policy.get("errorBudget") or {}
    if "objective" in budget:
        objective = Decimal(str(budget["objective"]))
        window = str(budget.get("window") or DEFAULT_WINDOW)
        origin: tuple[str | int, ...] = ("spec", "policy", "errorBudget")
    elif "successRate" in slo:  # slo.successRate defaults to 99 once the spec has an slo section
        objective, window, origin = Decimal(str(slo["successRate"])), DEFAULT_WINDOW, ("spec", "slo", "successRate")
    else:
        return []
    out = []
    if objective < 100:  # a 100% objective has no budget to burn
        failed = _selector(svc, ', classification="failure"')
        failures = f"sum(rate(response_total{{{failed}}}[{{window}}]))"
        total = f"sum(rate(response_total{{{_selector(svc)}}}[{{window}}]))"
        out.append(Objective("availability", objective, window, f"({failures} or vector(0)) / {total}",
                             "failed requests", origin))
    for key, name, quantile, target in LATENCIES:
        if key not in slo:
            continue
        limit = milliseconds(str(slo[key]))  # type: ignore[literal-required]
        bound = max((b for b in LINKERD_BUCKETS_MS if b <= limit), default=None)
        if bound is None:
            continue
        le = f', le=~"{bound}(\\\\.0)?"'
        fast = f"sum(rate(response_latency_ms_bucket{{{_selector(svc, le)}}}[{{window}}]))"
        total = f"sum(rate(response_latency_ms_count{{{_selector(svc)}}}[{{window}}]))"
        slower = f"requests slower than {bound}ms" + ("" if bound == limit else
                                                       f" (the Linkerd bucket bound under the {quantile} SLO of "
                                                       f"{limit}ms)")
        out.append(Objective(name, target, window, f"1 - ({fast} / {total})", slower, ("spec", "slo", key)))
    return out


def _labels(svc: Service, slo: str) -> dict[str, str]:
    return {"slo": slo, "service": svc.name, "environment": svc.environment, "namespace": svc.namespace}


def record_name(window: str) -> str:
    return f"slo:sli_error:ratio_rate{window}"


def group(svc: Service, objective: Objective) -> dict[str, Any]:
    """The rule group of one SLO: the recordings, then the page and ticket alerts."""
    labels = _labels(svc, objective.slo)
    selector = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    rules: list[dict[str, Any]] = [{"record": record_name(w), "expr": objective.errors.replace("{window}", w),
                                    "labels": labels} for w in WINDOWS]
    budget_hours = hours(objective.window)
    allowed = (100 - objective.objective) / 100
    what = "availability" if objective.slo == "availability" else f"{objective.slo.removeprefix('latency-')} latency"
    for severity in ("page", "ticket"):
        pairs = [(long, short, share, share * budget_hours / hours(long)) for s, long, short, share in PAIRS
                 if s == severity and hours(long) <= budget_hours]
        if not pairs:
            continue
        over = [f"{record_name(long)}{{{selector}}} > ({number(limit)} * {number(allowed)}) and "
                f"{record_name(short)}{{{selector}}} > ({number(limit)} * {number(allowed)})"
                for long, short, _, limit in pairs]
        spent = "; ".join(f"over both {long} and {short} above {number(limit)}x the rate that spends the budget "
                          f"exactly over {objective.window} ({number(share * 100)}% of the budget in {long})"
                          for long, short, share, limit in pairs)
        fastest = max(limit for _, _, _, limit in pairs)
        speed = "fast" if severity == "page" else "slowly"
        rules.append({
            "alert": "ErrorBudgetBurn",
            "expr": " or ".join(f"({condition})" for condition in over),
            "labels": {"severity": severity, **labels},
            "annotations": {
                "summary": f"{svc.name} ({svc.environment}): {what} error budget burning {speed}",
                "description": (
                    f"{svc.name} in {svc.namespace} ({svc.environment}) is spending the error budget of its "
                    f"{what} SLO ({number(objective.objective)}% over {objective.window}; bad events: "
                    f"{objective.bad}) {speed}: {spent}. At {number(fastest)}x the whole budget lasts "
                    f"{_lasts(budget_hours / fastest)}."),
                "runbook_url": runbook_path(svc),
            },
        })
    return {"name": f"{svc.name}-{svc.environment}-{objective.slo}", "rules": rules}


def _lasts(h: Fraction) -> str:
    if h >= 72:
        return f"{number(Fraction(round(h / 24 * 10), 10))} days"
    return f"{number(Fraction(round(h * 10), 10))} hours"


def slo_rules(svc: Service) -> Iterator[Built]:
    found = objectives(svc)
    if not found:
        return
    name = f"{svc.name}-slo"
    rule = {"name": name, "groups": [group(svc, o) for o in found]}
    origin: dict[str, tuple[str | int, ...]] = {"": ("spec", "slo")}
    origin.update({f"/spec/groups/{i}": o.origin for i, o in enumerate(found)})
    yield svc.object(FILE, "apps/prometheusrule.yaml.j2", {"rule": rule}, "monitoring.coreos.com/v1",
                     "PrometheusRule", name, origin)
