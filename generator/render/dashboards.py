"""Grafana dashboards as code (grafana-foundation-sdk): one per service and environment, and one overview.

A service's dashboard has four rows: its SLO and error budget (the budget left over the budget window, the burn
rate over 1h and 6h), canary beside primary (success rate, p50/p95/p99 latency and request rate from Linkerd's
proxy metrics, ``deployment="<name>"`` against ``deployment="<name>-primary"``), its synthetic probes (the analysis
controller's ``probe_success`` and ``probe_duration_seconds`` per flow and step), and its rollouts (Flagger's
``flagger_canary_status``, ``flagger_canary_weight``, ``flagger_canary_duration_seconds`` and the failures counter,
labels as pkg/metrics/recorder.go sets them). The overview lists every service's canary status and weight.

Every query takes the Prometheus data source from the dashboard's ``datasource`` variable and Grafana's
``$__rate_interval``. The JSON is deterministic (sorted keys, fixed positions).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Subject:
    """What a service's dashboard shows: its names, its SLO and its probes."""

    service: str
    environment: str
    namespace: str
    objective: float | None  # percent of requests that succeed (None: the spec sets no SLO)
    window: str  # the error budget's window, such as 30d
    flows: tuple[str, ...]  # probe flow names


def _query(expr: str, legend: str, ref: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)


def _series(title: str, unit: str, queries: Sequence[tuple[str, str]], width: int = 8) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).span(width).height(8)
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + i)))
    return panel


def _stat(title: str, unit: str, expr: str, width: int = 6) -> stat.Panel:
    return (stat.Panel().title(title).unit(unit).datasource(DATASOURCE).span(width).height(4)
            .with_target(_query(expr, title, "A").instant()))


def _requests(s: Subject, deployment: str, extra: str = "") -> str:
    return (f'response_total{{namespace="{s.namespace}", deployment=~"{deployment}", direction="inbound"'
            f'{extra}}}')


def _ratio(s: Subject, deployment: str, window: str) -> str:
    """The share of the deployment's inbound requests that succeed over ``window``."""
    good = _requests(s, deployment, ', classification!="failure"')
    return f"sum(rate({good}[{window}])) / sum(rate({_requests(s, deployment)}[{window}]))"


def queries(s: Subject) -> dict[str, list[str]]:
    """Each panel's PromQL, by panel title (for the tests: every one parses and returns data)."""
    both = f"{s.service}|{s.service}-primary"
    budget = 1 - (s.objective or 0) / 100
    tracks = (("canary", s.service), ("primary", f"{s.service}-primary"))
    latency = 'histogram_quantile({q}, sum by (le) (rate(response_latency_ms_bucket{{namespace="{ns}", ' \
              'deployment="{d}", direction="inbound"}}[{rate}])))'
    labels = f'service="{s.service}", environment="{s.environment}"'
    return {
        "error budget left": [f"1 - (1 - ({_ratio(s, both, s.window)})) / {budget:g}"],
        "success rate": [f"{_ratio(s, both, '1h')}"],
        "burn rate": [f"(1 - ({_ratio(s, both, w)})) / {budget:g}" for w in ("1h", "6h")],
        "success rate, canary and primary": [_ratio(s, d, RATE) for _, d in tracks],
        "latency, canary and primary": [latency.format(q=q, ns=s.namespace, d=d, rate=RATE)
                                        for _, d in tracks for q in ("0.5", "0.95", "0.99")],
        "request rate, canary and primary": [f"sum(rate({_requests(s, d)}[{RATE}]))" for _, d in tracks],
        "probe availability": [f"avg by (flow, step) (avg_over_time(probe_success{{{labels}}}[{RATE}]))"],
        "probe latency": [f"max by (flow, step) (probe_duration_seconds{{{labels}}})"],
        "canary status": [f'flagger_canary_status{{name="{s.service}", namespace="{s.namespace}"}}'],
        "canary weight": [f'flagger_canary_weight{{workload=~"{both}", namespace="{s.namespace}"}}'],
        "analysis duration": [f'histogram_quantile({q}, sum by (le) (rate(flagger_canary_duration_seconds_bucket'
                              f'{{name="{s.service}", namespace="{s.namespace}"}}[1d])))' for q in ("0.5", "0.95")],
        "rollbacks": [f'sum(increase(flagger_canary_failures_total{{name="{s.service}", '
                      f'namespace="{s.namespace}"}}[1d]))'],
    }


def service_dashboard(s: Subject) -> dict[str, Any]:
    q = queries(s)
    legends = {"burn rate": ["1h", "6h"], "success rate, canary and primary": ["canary", "primary"],
               "latency, canary and primary": [f"{t} p{p}" for t in ("canary", "primary") for p in (50, 95, 99)],
               "request rate, canary and primary": ["canary", "primary"],
               "probe availability": ["{{flow}}/{{step}}"], "probe latency": ["{{flow}}/{{step}}"],
               "canary weight": ["{{workload}}"], "analysis duration": ["p50", "p95"], "rollbacks": ["rollbacks"]}

    def series(title: str, unit: str, width: int = 8) -> timeseries.Panel:
        return _series(title, unit, list(zip(q[title], legends[title], strict=True)), width)

    board = (dashboard.Dashboard(f"rollouts: {s.service} in {s.environment}")
             .uid(f"rollouts-{s.environment}-{s.service}"[:40]).tags(["rollouts", s.environment])
             .time("now-6h", "now").refresh("1m").readonly()
             .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus")))
    if s.objective is not None:
        board = (board.with_row(dashboard.Row(f"SLO: {s.objective:g}% of requests succeed over {s.window}"))
                 .with_panel(_stat("error budget left", "percentunit", q["error budget left"][0]))
                 .with_panel(_stat("success rate", "percentunit", q["success rate"][0]))
                 .with_panel(series("burn rate", "none", 12)))
    board = (board.with_row(dashboard.Row("canary and primary"))
             .with_panel(series("success rate, canary and primary", "percentunit"))
             .with_panel(series("latency, canary and primary", "ms"))
             .with_panel(series("request rate, canary and primary", "reqps"))
             .with_row(dashboard.Row("synthetic probes" + (f": {', '.join(s.flows)}" if s.flows else "")))
             .with_panel(series("probe availability", "percentunit", 12))
             .with_panel(series("probe latency", "s", 12))
             .with_row(dashboard.Row("rollouts"))
             .with_panel(_stat("canary status", "none", q["canary status"][0]))
             .with_panel(series("canary weight", "percent", 6))
             .with_panel(series("analysis duration", "s", 6))
             .with_panel(series("rollbacks", "none", 6)))
    return _plain(board.build())


def overview_dashboard(services: Mapping[str, str]) -> dict[str, Any]:
    """Every service's canary status and weight (``services``: "<env>/<service>" -> namespace)."""
    namespaces = "|".join(sorted(set(services.values())))
    status = f'flagger_canary_status{{namespace=~"{namespaces}"}}'
    weight = f'flagger_canary_weight{{namespace=~"{namespaces}"}}'
    board = (dashboard.Dashboard("rollouts: overview").uid("rollouts-overview").tags(["rollouts"])
             .time("now-24h", "now").refresh("1m").readonly()
             .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
             .with_panel(_series("canary status (0 running, 1 succeeded, 2 failed)", "none",
                                 [(status, "{{namespace}}/{{name}}")], 24))
             .with_panel(_series("canary weight", "percent", [(weight, "{{namespace}}/{{workload}}")], 24)))
    return _plain(board.build())


def _plain(model: Any) -> dict[str, Any]:
    plain: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return plain


def encode(board: Mapping[str, Any]) -> str:
    """The dashboard's JSON as the ConfigMap holds it: compact, keys sorted."""
    return json.dumps(board, sort_keys=True, separators=(",", ":"))


__all__ = ["Subject", "encode", "overview_dashboard", "queries", "service_dashboard"]
