"""What the load tester needs to run ``helm test`` in the service's namespace: a Role and its RoleBinding."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model import Built, Origin, Service

LOADTESTER_SA = ("flagger-loadtester", "flagger-system")
# What `helm test` (helm v3, pkg/action/release_testing.go and hooks.go) does in the release namespace: read the
# release history (list Secrets owner=helm) and record the test run (update that Secret); create the test hooks
# (Pods, or Jobs), watch them until they finish, delete them by their hook-delete-policy (get until gone), and read
# the hook logs when the chart asks for them (helm.sh/hook-output-log-policy).
HELM_TEST_RULES: tuple[dict[str, Any], ...] = (
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "update"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
)
ORIGIN: Origin = {"": ("spec", "gates", "helmTest", "grantRBAC")}


def _grant(svc: Service) -> dict[str, Any] | None:
    helm_test = (svc.spec.get("gates") or {}).get("helmTest")
    if helm_test is None or not helm_test["grantRBAC"]:
        return None
    return {"role": f"{svc.name}-helm-test", "rules": list(HELM_TEST_RULES),
            "subject": {"name": LOADTESTER_SA[0], "namespace": LOADTESTER_SA[1]}}


def helm_test_role(svc: Service) -> Iterator[Built]:
    grant = svc.part(_grant)
    if grant is not None:
        yield svc.object("rbac.yaml", "apps/role.yaml.j2", grant, "rbac.authorization.k8s.io/v1", "Role",
                         grant["role"], dict(ORIGIN))


def helm_test_role_binding(svc: Service) -> Iterator[Built]:
    grant = svc.part(_grant)
    if grant is not None:
        yield svc.object("rbac.yaml", "apps/rolebinding.yaml.j2", grant, "rbac.authorization.k8s.io/v1",
                         "RoleBinding", grant["role"], dict(ORIGIN))
