"""The service name must leave room for the -primary and -canary suffixes Flagger appends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "name-too-long"
SEVERITY = Severity.ERROR
SUMMARY = "Service names must be at most 55 characters so that <name>-primary fits in a 63-character name."
REASON = """\
Flagger creates <name>-primary (Deployment, HPA, Service) and <name>-canary (Service) from the Canary's target.
Kubernetes object names that become DNS labels (Services) are limited to 63 characters, so a name longer than
55 characters makes Flagger fail to create the primary Service and the canary never initialises
(fluxcd/flagger docs/gitbook/usage/how-it-works.md; Kubernetes DNS-1123 label limit)."""

LIMIT = 63 - len("-primary")


def check(ctx: Context) -> Iterator[Finding]:
    name = ctx.spec.get(("metadata", "name"))
    if isinstance(name, str) and len(name) > LIMIT:
        yield ctx.finding(None, ("metadata", "name"),
                          f"name is {len(name)} characters; Flagger's {name[:8]}...-primary would exceed 63",
                          f"Shorten the name to at most {LIMIT} characters.")
