"""Time zones that do not exist."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "unknown-time-zone"
SEVERITY = Severity.ERROR
SUMMARY = "A change window's timeZone must be an IANA time zone name such as Europe/Berlin."
REASON = """\
The analysis controller evaluates change windows in their time zone; with an unknown zone it cannot, fails
closed, and every release is held (confirm-rollout), a stall that raises no Flagger alert (fluxcd/flagger#1663).
Abbreviations such as CET or PST are ambiguous and not all are IANA names."""

TZPATH = ("/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo", "/etc/zoneinfo")


def known(name: str) -> bool:
    """Whether ``name`` is an IANA zone: the system database read directly (fast), else zoneinfo (tzdata)."""
    import os

    if not name or name.startswith("/") or ".." in name.split("/") or "\\" in name:
        return False
    roots = [root for root in TZPATH if os.path.isdir(root)]
    if not roots:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            return False
        return True
    for root in roots:
        try:
            with open(os.path.join(root, name), "rb") as fh:
                return fh.read(4) == b"TZif"
        except OSError:
            continue
    return False


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        policy = spec.get("policy")
        for i, window in enumerate((policy.get("changeWindows") if policy else None) or []):
            if not known(window["timeZone"]):
                yield ctx.finding(env, ("policy", "changeWindows", i, "timeZone"),
                                  f"{window['timeZone']!r} is not an IANA time zone",
                                  "Use a name from the IANA database, such as Europe/Berlin or America/New_York.")
