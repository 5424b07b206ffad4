"""The linkerd provider needs the SMI extension."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "provider-linkerd-smi"
SEVERITY = Severity.ERROR
SUMMARY = "provider linkerd writes SMI TrafficSplits, which need linkerd-smi; use gatewayapi:v1beta1."
REASON = """\
Flagger's linkerd provider routes with SMI TrafficSplit objects. Linkerd removed SMI from its core in 2.12; the
generated infrastructure does not install the linkerd-smi extension, so Flagger fails with "could not find the
requested resource (post trafficsplits.split.smi-spec.io)" (fluxcd/flagger#1214, linkerd/website#1452). It also
cannot run A/B tests."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        if spec["strategy"]["provider"] == "linkerd":
            yield ctx.finding(env, ("strategy", "provider"), "provider linkerd needs SMI TrafficSplits",
                              "Use provider: gatewayapi:v1beta1 (the default).")
