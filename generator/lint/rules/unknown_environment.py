"""Overrides for environments the project does not have."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "unknown-environment"
SEVERITY = Severity.ERROR
SUMMARY = "spec.environments may only name the project's environments (rollouts.project.yaml; staging, production)."
REASON = """\
Manifests are rendered per project environment (flux/apps/<environment>/); an override under any other name
(a typo such as prod or stagging) is never rendered, so the release goes out with the base settings while the
author believes the override applies. Environments come from rollouts.project.yaml, default staging and
production. (This project's own layout; no upstream issue.)"""


def check(ctx: Context) -> Iterator[Finding]:
    envs = ctx.spec.get(("spec", "environments"))
    if not isinstance(envs, dict):
        return
    known = ctx.project.environments
    for name in envs:
        if name not in known:
            import difflib

            close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.5)
            hint = f"Did you mean {close[0]!r}? " if close else ""
            yield ctx.finding(None, ("spec", "environments", name),
                              f"environment {name!r} is not one of the project's: {', '.join(known)}",
                              hint + "Add it to environments in rollouts.project.yaml, or rename it.", key=True)
