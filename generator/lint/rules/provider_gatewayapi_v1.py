"""The Gateway API v1 router stalls on Linkerd."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "provider-gatewayapi-v1"
SEVERITY = Severity.ERROR
SUMMARY = "provider gatewayapi:v1 stalls on Linkerd; use gatewayapi:v1beta1."
REASON = """\
Flagger's gatewayapi:v1 router waits until the HTTPRoute's parent status reports the route's observed
generation; Linkerd does not set observedGeneration on Service-parent routes, so the canary never leaves
initialisation ("parent ... is not ready ... observed generation: 0"). linkerd/linkerd2#14964,
linkerd/linkerd2#15490, fluxcd/flagger#1791."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        if spec["strategy"]["provider"] == "gatewayapi:v1":
            yield ctx.finding(env, ("strategy", "provider"), "gatewayapi:v1 stalls on Linkerd",
                              "Use provider: gatewayapi:v1beta1 (the default).")
