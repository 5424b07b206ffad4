"""Mutable image tags never trigger a rollout."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "image-tag-mutable"
SEVERITY = Severity.ERROR
SUMMARY = "The image tag must be immutable: not latest, and not written into the repository."
REASON = """\
Flagger starts an analysis when the pod template changes. With tag latest the template never changes, so a new
image is either never rolled out or is pulled by restarting pods without any analysis (kube-linter latest-tag,
kube-score container-image-tag, Polaris tagNotSpecified; reference validation.md section 5, item 6). A tag inside
image.repository (name:tag) would be doubled by the chart."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        image = spec["workload"].get("image")
        if not image:
            continue
        if image["tag"] == "latest":
            yield ctx.finding(env, ("workload", "image", "tag"), "image tag latest is mutable",
                              "Use an immutable version tag such as 1.4.2, or a digest.")
        last = image["repository"].rsplit("/", 1)[-1]
        if ":" in last or "@" in last:
            yield ctx.finding(env, ("workload", "image", "repository"),
                              "image.repository carries a tag or digest", "Put the tag in image.tag only.")
