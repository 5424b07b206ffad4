"""Ingress traffic that bypasses the canary split."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from generator.findings import Finding, Severity

if TYPE_CHECKING:
    from generator.lint.rules import Context

ID = "ingress-unmeshed-gateway"
SEVERITY = Severity.WARNING
SUMMARY = "With an unmeshed gateway, north-south traffic skips the canary split."
REASON = """\
Linkerd splits traffic on the client side, in the proxy of the caller. An ingress gateway without a Linkerd
proxy, or one that routes to endpoints instead of the Service, sends its traffic straight to pods, so external
users are not split between primary and canary and the analysis sees only mesh-internal traffic
(fluxcd/flagger#247, #620; linkerd/linkerd2#11937)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        ingress = spec.get("ingress")
        if ingress and not ingress["meshedGateway"]:
            yield ctx.finding(env, ("ingress", "meshedGateway"),
                              "the gateway is not meshed; ingress traffic is not split",
                              "Mesh the gateway (linkerd.io/inject) so it sends to the Service, then set "
                              "meshedGateway: true.")
