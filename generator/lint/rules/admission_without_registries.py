"""With admission on, a service should name the registries its images come from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "admission-without-registries"
SEVERITY = Severity.WARNING
SUMMARY = "With admission: in rollouts.project.yaml, every service lists policy.allowedRegistries."
REASON = """\
When the project names an image signer, the render installs admission policies per environment: a Pod of the
environment's namespaces is admitted only with images from the registries its services allow (the union of their
policy.allowedRegistries), signed by that signer. A service that lists none adds no registry, so its own pods are
rejected at admission (Forbidden: an image of this pod is not from a registry environment ... allows) unless
another service of the environment happens to allow its registry (no upstream issue: the policy is the render's own,
docs/controller.md "Admission of images")."""


def check(ctx: Context) -> Iterator[Finding]:
    if not ctx.project.admission:
        return
    for env, spec in ctx.each():
        policy = spec.get("policy")
        if policy and policy.get("allowedRegistries"):
            continue
        image = spec["workload"].get("image")
        where = ("workload", "image", "repository") if image else ("workload",)
        images = image["repository"] if image else "its images"
        yield ctx.finding(env, where,
                          "admission is on (admission: in rollouts.project.yaml) and this service lists no "
                          "policy.allowedRegistries: its pods are admitted only if another service of the "
                          "environment allows their registry",
                          f"Add policy.allowedRegistries with the registry of {images}.")
