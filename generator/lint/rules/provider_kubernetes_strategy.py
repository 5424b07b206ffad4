"""The kubernetes provider shifts no traffic."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "provider-kubernetes-strategy"
SEVERITY = Severity.ERROR
SUMMARY = "provider kubernetes supports blueGreen only: it has no router to shift or match traffic."
REASON = """\
With the kubernetes provider Flagger uses a no-op router: traffic moves only when the apex Service is switched
at promotion, which is blue/green. Canary steps and A/B matches then do nothing, and the analysis runs on a
canary that receives no user traffic (fluxcd/flagger docs/gitbook/usage/deployment-strategies.md, support
matrix; pkg/router/kubernetes_noop.go)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        strategy = spec["strategy"]
        if strategy["provider"] == "kubernetes" and strategy["type"] != "blueGreen":
            yield ctx.finding(env, ("strategy", "provider"),
                              f"provider kubernetes cannot run a {strategy['type']} strategy",
                              "Use provider: gatewayapi:v1beta1, or type: blueGreen.")
