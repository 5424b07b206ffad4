"""helm test needs RBAC that the load tester does not have by default."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity

if TYPE_CHECKING:
    from ...spec.types import Gates
    from . import Context

ID = "helm-test-without-rbac"
SEVERITY = Severity.ERROR
SUMMARY = "A helm-test gate needs RBAC for the load tester; grantRBAC: false leaves it without any."
REASON = """\
The helm-test gate runs `helm test` in the load tester, as its ServiceAccount (flagger-system/flagger-loadtester).
helm needs to read the release Secret and to create, watch and delete the test Pods in the service's namespace;
the loadtester chart creates no Role by default (rbac.create: false, fluxcd/flagger charts/loadtester/values.yaml)
and Flagger's docs say to set up RBAC for it (fluxcd/flagger#563, #1494). With grantRBAC: false the tree grants
nothing, helm test is refused, the pre-rollout check fails and every release is rolled back. If the RBAC is
granted outside this repository, suppress the finding and say where. Environments with skipAnalysis are not
affected: Flagger runs no pre-rollout webhook there (pkg/controller/scheduler.go)."""


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        gates: Gates = spec.get("gates") or {}
        test = gates.get("helmTest")
        if test is not None and test["grantRBAC"] is False and not spec["strategy"]["skipAnalysis"]:
            yield ctx.finding(env, ("gates", "helmTest", "grantRBAC"),
                              "helm test runs as flagger-system/flagger-loadtester, which nothing grants the RBAC "
                              "it needs; the test is refused and every release rolls back",
                              "Remove grantRBAC: false so that the tree grants the Role, or, if it is granted "
                              "elsewhere, suppress this finding with a reason that says where.")
