"""Route options that Linkerd does not implement."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "linkerd-unsupported-option"
SEVERITY = Severity.ERROR
SUMMARY = "mirror and sessionAffinity need HTTPRoute features that Linkerd does not implement."
REASON = """\
Flagger implements traffic mirroring with a RequestMirror filter and session affinity with per-backend
ResponseHeaderModifier filters on the HTTPRoute. Linkerd's Service-parent HTTPRoutes support neither (linkerd.io
reference/httproute.md lists no backend filters and no RequestMirror), so the route is not accepted or the option
silently does nothing, and the release is analysed on traffic it never got (reference flagger-linkerd-flux.md
sections 2 and 8.16; fluxcd/flagger docs/gitbook/usage/deployment-strategies.md, support matrix)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        strategy = spec["strategy"]
        if strategy["mirror"]:
            yield ctx.finding(env, ("strategy", "mirror"), "traffic mirroring is not supported by Linkerd",
                              "Remove mirror; use a load test to exercise the canary.")
        if strategy.get("sessionAffinity"):
            yield ctx.finding(env, ("strategy", "sessionAffinity"), "session affinity is not supported by Linkerd",
                              "Remove sessionAffinity; use an abTest with a cookie match to pin users.")
