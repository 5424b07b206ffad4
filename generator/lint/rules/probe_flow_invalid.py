"""A probe flow the analysis controller would refuse: a step name used twice, a regular expression that does not
compile or a capture without exactly one group, or a ``{{ name }}`` no earlier step captures."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "probe-flow-invalid"
SEVERITY = Severity.ERROR
SUMMARY = "Every probe flow must be one the analysis controller can run."
REASON = """\
The analysis controller runs the synthetic probe flows at every rollout tick and denies the tick when it cannot
run one (generator/controller/probes.py: "probe configuration: ..."): Flagger counts each denied rollout hook as
a failed check, so a flow with a typo rolls back every release after `threshold` ticks, healthy or not. Caught
here: two steps of a flow with one name (they would share metric labels and evidence; an unnamed step is
step-<n>), a bodyMatch or capture that is not a regular expression, a capture without exactly one group, and a
{{ name }} in a path, header or body that no earlier step of the flow captures (no upstream issue: Flagger has
no probes of its own; the analysis controller adds them, as Grafana's MultiHTTP checks do)."""

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _problem_in_regex(text: str, groups: int | None) -> str:
    try:
        compiled = re.compile(text)
    except re.error as e:
        return f"{text!r} is not a regular expression: {e}"
    if groups is not None and compiled.groups != groups:
        return f"{text!r} has {compiled.groups} groups, a capture needs exactly one (the value)"
    return ""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        for f, flow in enumerate((spec.get("probes") or {}).get("flows") or []):
            seen: set[str] = set()
            captured: set[str] = set()
            for s, step in enumerate(flow["steps"]):
                where = ("probes", "flows", f, "steps", s)
                yield from _step(ctx, env, where, step, s, seen, captured)


def _step(ctx: Context, env: str, where: tuple[Any, ...], step: Any, position: int, seen: set[str],
          captured: set[str]) -> Iterator[Finding]:
    name = step.get("name") or f"step-{position + 1}"
    if name in seen:
        yield ctx.finding(env, (*where, "name") if step.get("name") else where,
                          f"step name {name!r} is used twice in this flow",
                          "Give each step of a flow its own name.")
    seen.add(name)
    fields: list[tuple[tuple[Any, ...], str]] = [((*where, "path"), step["path"])]
    fields += [((*where, "headers", h), v) for h, v in (step.get("headers") or {}).items()]
    if "body" in step:
        fields.append(((*where, "body"), step["body"]))
    for path, text in fields:
        for wanted in PLACEHOLDER.findall(str(text)):
            if wanted not in captured:
                yield ctx.finding(env, path, f"{{{{ {wanted} }}}} is not captured by an earlier step of this flow",
                                  f"Capture it first: capture: {{{wanted}: '\"{wanted}\":\"([^\"]+)\"'}} on an "
                                  "earlier step, or fix the name.")
    if "bodyMatch" in step and (problem := _problem_in_regex(step["bodyMatch"], None)):
        yield ctx.finding(env, (*where, "bodyMatch"), problem, "Write a Python regular expression.")
    for var, pattern in (step.get("capture") or {}).items():
        if problem := _problem_in_regex(pattern, 1):
            yield ctx.finding(env, (*where, "capture", var), problem,
                              "Write one group around the value: '\"id\":\"([^\"]+)\"'.")
        captured.add(var)
