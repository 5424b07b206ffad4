"""An unmeshed gateway reaches the service by network, not by identity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "ingress-unmeshed-gateway"
SEVERITY = Severity.WARNING
SUMMARY = "An unmeshed gateway is authorized by network (ingress.gateway.networks), without mTLS or identity."
REASON = """\
Flagger splits north-south traffic at the Gateway, which is listed in the Canary's gatewayRefs (fluxcd/flagger
docs/gitbook/tutorials/gatewayapi-progressive-delivery.md), and the gateway sends to the primary and canary pods.
The service's Linkerd Server denies what no policy authorizes (accessPolicy: deny, answered with 403). A meshed
gateway calls over mTLS with its mesh identity; an unmeshed one can only be let in by a NetworkAuthentication of
the networks it sends from (linkerd/website linkerd.io/content/2-edge/reference/authorization-policy.md), so its
hop to the service is plaintext and every other unmeshed pod or node in those networks is let in too."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        ingress = spec.get("ingress")
        # without networks it is ingress-gateway-networks-missing, an error, instead
        gateway = ingress.get("gateway") if ingress else None
        if ingress and ingress.get("meshedGateway") is False and gateway and gateway.get("networks"):
            yield ctx.finding(env, ("ingress", "meshedGateway"),
                              "the gateway is not meshed; its traffic is plaintext and authorized by network only",
                              "Mesh the gateway pods (linkerd.io/inject: enabled), then set meshedGateway: true.")
