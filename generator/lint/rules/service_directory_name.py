"""The service directory and the service name must agree."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "service-directory-name"
SEVERITY = Severity.ERROR
SUMMARY = "services/<dir>/rollouts.yaml must have metadata.name equal to <dir>."
REASON = """\
The rendered tree is laid out by service name (flux/apps/<environment>/<name>/), and reviewers and CODEOWNERS find
a service by its directory; a copied spec whose name was not changed renders over another service's manifests,
and two directories with one name overwrite each other. (This project's own layout; no upstream issue.)"""


def check(ctx: Context) -> Iterator[Finding]:
    parts = ctx.spec.file.replace("\\", "/").split("/")
    if len(parts) < 3 or parts[-3] != "services" or parts[-1] not in ("rollouts.yaml", "rollouts.yml"):
        return
    directory = parts[-2]
    name = ctx.spec.get(("metadata", "name"))
    if isinstance(name, str) and name != directory:
        yield ctx.finding(None, ("metadata", "name"), f"name {name!r} differs from its directory services/{directory}",
                          f"Set metadata.name: {directory}, or rename the directory.")
