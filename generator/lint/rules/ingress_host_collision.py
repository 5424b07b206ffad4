"""Two environments must not claim the same host on one Gateway."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "ingress-host-collision"
SEVERITY = Severity.ERROR
SUMMARY = "Two environments must not route the same host on the same Gateway listener."
REASON = """\
Each environment renders its own route for ingress.hosts on ingress.gateway, matching every path. When two
environments claim the same hostname on the same Gateway (and listener), Gateway API breaks the tie by the oldest
route's creation timestamp, then by namespace/name (kubernetes-sigs/gateway-api apis/v1/httproute_types.go,
HTTPRouteRule.Matches), so production users may be served by staging, and which one wins changes when a route is
re-created. Give each environment its own host with environments.<env>.ingress.hosts."""


def _overlap(a: str | None, b: str | None) -> bool:
    """Routes on listeners ``a`` and ``b`` of one Gateway (None: every listener) can meet."""
    return a is None or b is None or a == b


def check(ctx: Context) -> Iterator[Finding]:
    claims: dict[tuple[str, str, str], list[tuple[str, int, str | None]]] = {}
    for env, spec in ctx.each():
        ingress = spec.get("ingress")
        gateway = ingress.get("gateway") if ingress else None
        if not ingress or not gateway or "name" not in gateway or "namespace" not in gateway:
            continue  # an override without a base ingress: the schema cannot require its keys there
        for j, host in enumerate(ingress.get("hosts") or []):
            claims.setdefault((host, gateway["namespace"], gateway["name"]), []).append(
                (env, j, gateway.get("sectionName")))
    for (host, namespace, name), where in claims.items():
        for env, j, section in where:
            others = [e for e, _, s in where if e != env and _overlap(section, s)]
            if others:
                envs = sorted({env, *others}, key=list(ctx.environments).index)
                yield ctx.finding(env, ("ingress", "hosts", j),
                                  f"host {host} on Gateway {namespace}/{name} is routed in {' and '.join(envs)}; "
                                  "the oldest route wins, so users of one environment may reach the other",
                                  "Give each environment its own host with environments.<env>.ingress.hosts.")
