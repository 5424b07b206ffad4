"""Images from registries the policy does not allow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from . import Context

ID = "image-registry"
SEVERITY = Severity.ERROR
SUMMARY = "workload.image.repository must start with one of policy.allowedRegistries, when that list is set."
REASON = """\
A release is only as trustworthy as where its image comes from; an image from a registry outside the team's
allowed list bypasses the signing and scanning set up for those registries (kube-linter and Polaris check the
same in the cluster, after the fact; here it is caught in the pull request)."""


def _allowed(repository: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return repository == prefix or repository.startswith(prefix + "/")


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        policy = spec.get("policy")
        allowed = policy.get("allowedRegistries") if policy else None
        image = spec["workload"].get("image")
        if not allowed or not image:
            continue
        repository = image["repository"]
        if not any(_allowed(repository, prefix) for prefix in allowed):
            yield ctx.finding(env, ("workload", "image", "repository"),
                              f"image {repository} is not from an allowed registry ({', '.join(allowed)})",
                              "Publish the image to an allowed registry, or add its registry to "
                              "policy.allowedRegistries.")
