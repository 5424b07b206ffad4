"""Custom metrics must not take the names of Flagger's built-in checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "metric-builtin-name"
SEVERITY = Severity.ERROR
SUMMARY = "A custom metric must not be named request-success-rate or request-duration (Flagger built-ins)."
REASON = """\
Flagger treats a metric named request-success-rate or request-duration as its built-in check: it runs its own
query for the provider (for gatewayapi, http_request_duration_seconds from app instrumentation, which Linkerd
workloads do not have) and reads the bounds in its own units, so the custom query is not what is evaluated
(fluxcd/flagger docs/gitbook/usage/metrics.md; pkg/controller/scheduler_metrics.go)."""

BUILT_IN = ("request-success-rate", "request-duration")


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        for i, metric in enumerate(spec.get("metrics") or []):
            if metric["name"] in BUILT_IN:
                yield ctx.finding(env, ("metrics", i, "name"),
                                  f"{metric['name']!r} is the name of a Flagger built-in metric",
                                  "Rename it, e.g. checkout-success-rate; the SLO section covers the built-ins.")
