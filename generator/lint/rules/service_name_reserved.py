"""A service named like a folder the render keeps for itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity
from ...project import DERIVED_APP_FOLDERS

if TYPE_CHECKING:
    from . import Context

ID = "service-name-reserved"
SEVERITY = Severity.ERROR
SUMMARY = "A service may not be named namespaces or analysis-controller: the render keeps those folders."
REASON = """\
Each environment's folder flux/apps/<environment>/ holds one folder per service and two the render derives from
all of them: namespaces/ (the environment's namespaces) and analysis-controller/ (the analysis controller's
config). A service with one of those names would be rendered into that folder, and the two would overwrite each
other's kustomization.yaml. (This project's own layout; no upstream issue.)"""

RESERVED = DERIVED_APP_FOLDERS


def check(ctx: Context) -> Iterator[Finding]:
    name = ctx.spec.get(("metadata", "name"))
    if isinstance(name, str) and name in RESERVED:
        yield ctx.finding(None, ("metadata", "name"), f"the render keeps flux/apps/<environment>/{name}/ for itself",
                          "Give the service another name (and its folder under services/ with it).")
