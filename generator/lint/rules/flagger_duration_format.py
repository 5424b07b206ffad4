"""Durations that Flagger's CRD rejects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from ...spec.types import Gates
    from . import Context

ID = "flagger-duration-format"
SEVERITY = Severity.ERROR
SUMMARY = "Analysis interval, metric intervals and gate timeouts must be in seconds or minutes (90s, 5m), not hours."
REASON = """\
Flagger's CRD validates analysis.interval, metric intervals and webhook timeouts with the pattern ^[0-9]+(m|s), so
a value such as 1h or 1h30m makes the API server reject the whole Canary and Flux's apply of the service fails
(fluxcd/flagger artifacts/flagger/crd.yaml; reference validation.md section 5)."""

GATES: tuple[Literal["loadTest", "acceptanceTest", "helmTest"], ...] = ("loadTest", "acceptanceTest", "helmTest")


def _bad(value: str) -> bool:
    digits = len(value) - len(value.lstrip("0123456789"))
    return value[digits:digits + 1] not in ("m", "s")


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        interval = spec["strategy"]["interval"]
        if _bad(interval):
            yield ctx.finding(env, ("strategy", "interval"),
                              f"interval {interval} is rejected by Flagger's CRD (^[0-9]+(m|s))",
                              "Write it in minutes or seconds, e.g. 60m instead of 1h.")
        for i, metric in enumerate(spec.get("metrics") or []):
            if _bad(metric["interval"]):
                yield ctx.finding(env, ("metrics", i, "interval"),
                                  f"interval {metric['interval']} is rejected by Flagger's CRD (^[0-9]+(m|s))",
                                  "Write it in minutes or seconds, e.g. 60m instead of 1h.")
        gates: Gates = spec.get("gates") or {}
        for gate in GATES:
            section = gates.get(gate)
            timeout = section["timeout"] if section else None
            if timeout and _bad(timeout):
                yield ctx.finding(env, ("gates", gate, "timeout"),
                                  f"timeout {timeout} is rejected by Flagger's CRD (^[0-9]+(m|s))",
                                  "Write it in minutes or seconds, e.g. 60m instead of 1h.")
