"""The v1beta1 Gateway API router sets no timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "route-timeout-ignored"
SEVERITY = Severity.WARNING
SUMMARY = "strategy.timeout is ignored by the gatewayapi:v1beta1 router."
REASON = """\
HTTPRoute timeouts exist only in Gateway API v1 (HTTPRouteRule.timeouts); Flagger's gatewayapi:v1beta1 router,
the one that works on Linkerd, writes v1beta1 routes without them, so the timeout never takes effect (fluxcd/flagger
pkg/router/gateway_api_v1beta1.go). Linkerd timeouts can be set with the timeout.linkerd.io annotations instead."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        strategy = spec["strategy"]
        if strategy.get("timeout") and strategy["provider"] == "gatewayapi:v1beta1":
            yield ctx.finding(env, ("strategy", "timeout"), "timeout has no effect with provider gatewayapi:v1beta1",
                              "Remove it, or set a Linkerd timeout annotation through workload.values.")
