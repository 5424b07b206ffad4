"""An unmeshed gateway is let in by its networks only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "ingress-gateway-networks-missing"
SEVERITY = Severity.ERROR
SUMMARY = "An unmeshed gateway (meshedGateway: false) needs ingress.gateway.networks, or its requests get 403."
REASON = """\
The service's Linkerd Server has accessPolicy: deny, so the proxy answers every request that no authorization
admits with HTTP 403 (linkerd/website linkerd.io/content/2-edge/features/server-policy.md). Meshed clients are
admitted by their mesh identity; an unmeshed gateway has none and is admitted only by a NetworkAuthentication of
the networks its pods send from, which the tree renders from ingress.gateway.networks. Without them every public
request is refused once Flagger routes the Gateway to the service (the Gateway is a parent of Flagger's route,
fluxcd/flagger docs/gitbook/tutorials/gatewayapi-progressive-delivery.md)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        ingress = spec.get("ingress")
        if not ingress or ingress.get("meshedGateway") is not False:
            continue
        gateway = ingress.get("gateway")
        if not (gateway.get("networks") if gateway else None):
            yield ctx.finding(env, ("ingress", "meshedGateway"),
                              "the gateway is not meshed and no networks are authorized; its requests get 403",
                              "List the gateway pods' networks in ingress.gateway.networks (e.g. [10.0.0.0/8]), "
                              "or mesh the gateway and set meshedGateway: true.")
