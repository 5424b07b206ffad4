"""A notification URL with a credential in it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "notification-url-credentials"
SEVERITY = Severity.ERROR
SUMMARY = "A notification URL must hold no credentials: put them in the Secret of secretRef."
REASON = """\
The notification URL is written into the analysis controller's ConfigMap, the rendered tree and its signed
bundle, all readable by anyone who can read the repository or the namespace. A password in the URL
(https://user:pass@host) or a token in its query (?token=...) is a secret in Git. Flagger's AlertProvider keeps
its webhook address in a Secret for this reason (spec.secretRef, fluxcd/flagger pkg/apis/flagger/v1beta1); here
the body is signed with the HMAC key of secretRef instead."""

SECRET_PARAMETER = re.compile(r"(token|secret|key|sig|signature|password|passwd|pwd|auth|code|credential)",
                              re.IGNORECASE)


def problem(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        return "has a user or password in it"
    for name, _ in parse_qsl(parts.query, keep_blank_values=True):
        if SECRET_PARAMETER.search(name):
            return f"has a credential in its query ({name}=...)"
    return ""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        for i, target in enumerate(spec.get("notifications") or []):
            found = problem(target["url"])
            if found:
                yield ctx.finding(env, ("notifications", i, "url"),
                                  f"notification {target['name']!r}: the URL {found}",
                                  "Remove it from the URL; authenticate with the HMAC signature (secretRef) or "
                                  "a receiver that reads the key from a Secret.")
