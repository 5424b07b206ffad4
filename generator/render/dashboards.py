"""Grafana dashboards as code (grafana-foundation-sdk): one per service and environment, and one overview.

A service's dashboard has four rows: its SLO and error budget (the budget left over the budget window, the burn
rate over 1h and 6h), canary beside primary (success rate, p50/p95/p99 latency and request rate from Linkerd's
proxy metrics, ``deployment="<name>"`` against ``deployment="<name>-primary"``), its synthetic probes (the analysis
controller's ``probe_success`` and ``probe_duration_seconds`` per flow and step), and its rollouts (Flagger's
``flagger_canary_status``, ``flagger_canary_weight``, ``flagger_canary_duration_seconds`` and the failures counter,
labels as pkg/metrics/recorder.go sets them). The overview lists every service's canary status and weight.

A fluxRollback service (Flux alone, no Flagger) has one Deployment, ``<name>``: its dashboard shows that
Deployment's success rate, latency and request rate, no probes (they run in Flagger's analysis), and instead of
Flagger's metrics helm-controller's ``gotk_reconcile_duration_seconds{kind="HelmRelease"}`` (fluxcd/pkg
runtime/metrics, the only series helm-controller v1.6 records per HelmRelease): how often and how long the release
reconciled.

Every query takes the Prometheus data source from the dashboard's ``datasource`` variable; every rate over a
panel's step uses Grafana's ``$__rate_interval``, and a fixed window (the SLO's, a day of rollouts) takes
``increase``, as grafana/dashboard-linter asks (tests/dashboard_lint.py checks its rules). Every panel has a
description and a unit. The JSON is deterministic (sorted keys, fixed positions).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
    flux_alone: bool = False  # fluxRollback: one Deployment <service>, no Flagger


@dataclass(frozen=True)
class Panel:
    """One panel: a stat (``instant``) or a time series, its queries as (PromQL, legend)."""

    title: str
    unit: str
    description: str
    queries: tuple[tuple[str, str], ...]
    width: int = 8
    instant: bool = False


def _requests(s: Subject, deployment: str, extra: str = "") -> str:
    return (f'response_total{{namespace="{s.namespace}", deployment=~"{deployment}", direction="inbound"'
            f'{extra}}}')


def _ratio(s: Subject, deployment: str, window: str) -> str:
    """The share of the deployment's inbound requests that succeed over ``window`` (``increase`` over a fixed
    window, ``rate`` over Grafana's ``$__rate_interval``: the same ratio)."""
    good = _requests(s, deployment, ', classification!="failure"')
    over = "rate" if window == RATE else "increase"
    return f"sum({over}({good}[{window}])) / sum({over}({_requests(s, deployment)}[{window}]))"


def _latency(s: Subject, deployment: str, q: str) -> str:
    return (f'histogram_quantile({q}, sum by (le) (rate(response_latency_ms_bucket{{namespace="{s.namespace}", '
            f'deployment="{deployment}", direction="inbound"}}[{RATE}])))')


def _slo(s: Subject, serving: str) -> list[Panel]:
    budget = 1 - (s.objective or 0) / 100
    return [
        Panel("error budget left", "percentunit",
              f"The share of the error budget ({100 - (s.objective or 0):g}% of requests over {s.window}) not yet "
              "spent by failed inbound requests (Linkerd's response_total).",
              ((f"1 - (1 - ({_ratio(s, serving, s.window)})) / {budget:g}", "error budget left"),), 6, True),
        Panel("success rate", "percentunit", "The share of inbound requests that succeeded over the last hour.",
              ((_ratio(s, serving, "1h"), "success rate"),), 6, True),
        Panel("burn rate", "none", "How fast the error budget burns over 1h and 6h (1: spent exactly over the "
              "window; the page alerts fire at 14.4 and 6).",
              tuple((f"(1 - ({_ratio(s, serving, w)})) / {budget:g}", w) for w in ("1h", "6h")), 12)]


def _tracks(s: Subject) -> list[Panel]:
    """Canary beside primary (Flagger), or the one Deployment a fluxRollback service has."""
    if s.flux_alone:
        one = s.service
        return [
            Panel(f"success rate, {one}", "percentunit",
                  f"The share of {one}'s inbound requests that succeed (Linkerd's response_total).",
                  ((_ratio(s, one, RATE), one),)),
            Panel(f"latency, {one}", "ms", f"p50, p95 and p99 of {one}'s inbound request latency "
                  "(Linkerd's response_latency_ms).",
                  tuple((_latency(s, one, q), f"p{p}") for q, p in (("0.5", 50), ("0.95", 95), ("0.99", 99)))),
            Panel(f"request rate, {one}", "reqps", f"{one}'s inbound requests per second.",
                  ((f"sum(rate({_requests(s, one)}[{RATE}]))", one),))]
    tracks = (("canary", s.service), ("primary", f"{s.service}-primary"))
    return [
        Panel("success rate, canary and primary", "percentunit",
              "The share of inbound requests that succeed, canary beside primary (Linkerd's response_total).",
              tuple((_ratio(s, d, RATE), t) for t, d in tracks)),
        Panel("latency, canary and primary", "ms",
              "p50, p95 and p99 of inbound request latency, canary beside primary (Linkerd's response_latency_ms).",
              tuple((_latency(s, d, q), f"{t} p{p}") for t, d in tracks
                    for q, p in (("0.5", 50), ("0.95", 95), ("0.99", 99)))),
        Panel("request rate, canary and primary", "reqps",
              "Inbound requests per second, canary beside primary: the canary's share follows its traffic weight.",
              tuple((f"sum(rate({_requests(s, d)}[{RATE}]))", t) for t, d in tracks))]


def _probes(s: Subject) -> list[Panel]:
    labels = f'service="{s.service}", environment="{s.environment}"'
    return [
        Panel("probe availability", "percentunit",
              "The share of the analysis controller's synthetic probe runs that passed, per flow and step.",
              ((f"avg by (flow, step) (avg_over_time(probe_success{{{labels}}}[{RATE}]))", "{{flow}}/{{step}}"),), 12),
        Panel("probe latency", "s", "The slowest synthetic probe step's duration, per flow and step.",
              ((f"max by (flow, step) (probe_duration_seconds{{{labels}}})", "{{flow}}/{{step}}"),), 12)]


def _rollouts(s: Subject) -> list[Panel]:
    if s.flux_alone:  # helm-controller records gotk_reconcile_duration_seconds{kind, name, namespace} only
        release = f'kind="HelmRelease", name="{s.service}", namespace="{s.namespace}"'
        return [
            Panel("release reconciliations", "none",
                  "How often helm-controller reconciled the HelmRelease over the last hour (an upgrade, its Helm "
                  "tests and a rollback are each a reconciliation).",
                  ((f"sum(increase(gotk_reconcile_duration_seconds_count{{{release}}}[1h]))", "per hour"),), 12),
            Panel("release reconcile duration", "s",
                  "p50 and p95 of helm-controller's HelmRelease reconciliations over the last day (an upgrade with "
                  "its Helm tests is bounded by strategy.releaseTimeout).",
                  tuple((f"histogram_quantile({q}, sum by (le) (increase(gotk_reconcile_duration_seconds_bucket"
                         f"{{{release}}}[1d])))", f"p{p}") for q, p in (("0.5", 50), ("0.95", 95))), 12)]
    both = f"{s.service}|{s.service}-primary"
    canary = f'name="{s.service}", namespace="{s.namespace}"'
    return [
        Panel("canary status", "none", "Flagger's last analysis result for the Canary (flagger_canary_status).",
              ((f"flagger_canary_status{{{canary}}}", "canary status"),), 6, True),
        Panel("canary weight", "percent", "The traffic weight Flagger gives canary and primary.",
              ((f'flagger_canary_weight{{workload=~"{both}", namespace="{s.namespace}"}}', "{{workload}}"),), 6),
        Panel("analysis duration", "s", "p50 and p95 of Flagger's canary analysis duration over the last day.",
              tuple((f"histogram_quantile({q}, sum by (le) (increase(flagger_canary_duration_seconds_bucket"
                     f"{{{canary}}}[1d])))", f"p{p}") for q, p in (("0.5", 50), ("0.95", 95))), 6),
        Panel("rollbacks", "none", "Failed canary analyses (Flagger's failures counter) over the last day.",
              ((f"sum(increase(flagger_canary_failures_total{{{canary}}}[1d]))", "rollbacks"),), 6)]


def rows(s: Subject) -> list[tuple[str, list[Panel]]]:
    """The service dashboard's rows, each a title and its panels."""
    serving = s.service if s.flux_alone else f"{s.service}|{s.service}-primary"
    out = []
    if s.objective is not None:
        out.append((f"SLO: {s.objective:g}% of requests succeed over {s.window}", _slo(s, serving)))
    out.append((f"{s.service} (released by Flux alone)" if s.flux_alone else "canary and primary", _tracks(s)))
    if not s.flux_alone:  # probes run in Flagger's analysis (flux-rollback-field-ignored)
        out.append(("synthetic probes" + (f": {', '.join(s.flows)}" if s.flows else ""), _probes(s)))
    out.append(("releases (helm-controller)" if s.flux_alone else "rollouts", _rollouts(s)))
    return out


def queries(s: Subject) -> dict[str, list[str]]:
    """Each panel's PromQL, by panel title (for the tests: every one parses and returns data)."""
    return {p.title: [e for e, _ in p.queries] for _, panels in rows(s) for p in panels}


def _panel(p: Panel) -> stat.Panel | timeseries.Panel:
    if p.instant:
        expr, legend = p.queries[0]
        return (stat.Panel().title(p.title).description(p.description).unit(p.unit).datasource(DATASOURCE)
                .span(p.width).height(4).with_target(_query(expr, legend, "A").instant()))
    panel = (timeseries.Panel().title(p.title).description(p.description).unit(p.unit).datasource(DATASOURCE)
             .span(p.width).height(8))
    for i, (expr, legend) in enumerate(p.queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + i)))
    return panel


def _query(expr: str, legend: str, ref: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)


def _board(title: str, uid: str, tags: list[str], since: str) -> dashboard.Dashboard:
    return (dashboard.Dashboard(title).uid(uid).tags(tags).time(since, "now").refresh("1m").readonly()
            .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus data source")
                           .type("prometheus")))


def dashboard_uid(s: Subject) -> str:
    return f"rollouts-{s.environment}-{s.service}"[:40]  # Grafana's uid: at most 40 characters


def service_dashboard(s: Subject, uid: str | None = None) -> dict[str, Any]:
    board = _board(f"rollouts: {s.service} in {s.environment}", uid or dashboard_uid(s),
                   ["rollouts", s.environment], "now-6h")
    for title, panels in rows(s):
        board = board.with_row(dashboard.Row(title))
        for p in panels:
            board = board.with_panel(_panel(p))
    return _plain(board.build())


def overview_dashboard(environment: str, services: Mapping[str, str]) -> dict[str, Any]:
    """Every service's canary status and weight in ``environment`` (``services``: "<env>/<service>" ->
    namespace); its uid and title name the environment, as one Grafana may load every environment's."""
    namespaces = "|".join(sorted(set(services.values())))
    status = f'flagger_canary_status{{namespace=~"{namespaces}"}}'
    weight = f'flagger_canary_weight{{namespace=~"{namespaces}"}}'
    board = _board(f"rollouts: overview of {environment}", f"rollouts-{environment}-overview"[:40],
                   ["rollouts", environment], "now-24h")
    for p in (Panel("canary status (0 running, 1 succeeded, 2 failed)", "none",
                    "Flagger's last analysis result of every Canary.", ((status, "{{namespace}}/{{name}}"),), 24),
              Panel("canary weight", "percent", "The traffic weight Flagger gives each canary and primary.",
                    ((weight, "{{namespace}}/{{workload}}"),), 24)):
        board = board.with_panel(_panel(p))
    return _plain(board.build())


def _plain(model: Any) -> dict[str, Any]:
    plain: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return plain


def encode(board: Mapping[str, Any]) -> str:
    """The dashboard's JSON as the ConfigMap holds it: compact, keys sorted."""
    return json.dumps(board, sort_keys=True, separators=(",", ":"))


__all__ = ["Panel", "Subject", "dashboard_uid", "encode", "overview_dashboard", "queries", "rows", "service_dashboard"]
