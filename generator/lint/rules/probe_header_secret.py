"""A probe header that holds a credential."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "probe-header-secret"
SEVERITY = Severity.ERROR
SUMMARY = "Credentials in probe headers belong in headersFromSecrets, never in headers."
REASON = """\
A probe step's headers are written into the analysis controller's ConfigMap and the rendered tree, readable by
anyone who can read the repository or the namespace. An Authorization header, a cookie, an API key or a value
like "Bearer ..." there is a credential in Git; headersFromSecrets names a Secret key the controller reads at
request time instead (no upstream issue: the probes are the analysis controller's own)."""

SECRET_HEADER = re.compile(r"^(authorization|proxy-authorization|cookie|x-api-key|api-key|x-auth-token)$|token|secret"
                           r"|password|api[-_]?key", re.IGNORECASE)
SECRET_VALUE = re.compile(r"^\s*(bearer|basic|token|digest)\s+\S+", re.IGNORECASE)


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        probes = spec.get("probes") or {}
        for f, flow in enumerate(probes.get("flows") or []):
            for s, step in enumerate(flow["steps"]):
                for header, value in (step.get("headers") or {}).items():
                    if SECRET_HEADER.search(header) or SECRET_VALUE.search(value):
                        yield ctx.finding(env, ("probes", "flows", f, "steps", s, "headers", header),
                                          f"header {header!r} of flow {flow['name']!r} holds a credential in "
                                          "the spec",
                                          f"Move it to headersFromSecrets: {{{header}: {{name: SECRET, key: KEY}}}}"
                                          " and create the Secret in flagger-system.")
