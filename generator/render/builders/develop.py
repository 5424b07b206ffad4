"""The opt-in demo pack (``render: {develop: true}``): podinfo, released as a canary by the same builders as a
real service, in its own namespace and Kustomization after Flagger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from ..infra import INJECT, PD, PINS, PRIVILEGED, Layer, flux_kustomization, system_namespace
from ..model import namespace_for
from ..options import RenderOptions

if TYPE_CHECKING:
    from ...spec.types import Resolved

DIRECTORY = f"{PD}/develop"
RUNBOOK_FILE = f"{DIRECTORY}/RUNBOOK.md"  # the demo's runbook (render/stages.py writes it)

# podinfo's chart labels its pods only app.kubernetes.io/name: <fullname> (charts/podinfo/templates/_helpers.tpl,
# selectorLabels), which Flagger renames on the primary's pods: the policy and the budget match both values
DEMO_SELECTOR = "app.kubernetes.io/name"
DEMO: dict[str, Any] = {
    "metadata": {"name": "podinfo", "namespace": "podinfo", "owner": "platform"},
    "environment": "develop",  # namespace podinfo-develop
    "spec": {
        "workload": {
            "chart": {"repository": "oci://ghcr.io/stefanprodan/charts/podinfo", "version": PINS["podinfo"]},
            "image": {"repository": "ghcr.io/stefanprodan/podinfo", "tag": PINS["podinfo"]},
            # the chart's Service podinfo would collide with the apex Service Flagger creates
            "values": {"service": {"enabled": False}}, "port": 9898, "portName": "http", "replicas": 2,
            "autoscaling": {"minReplicas": 2, "maxReplicas": 4, "targetCPU": 80},
            "disruptionBudget": {"maxUnavailable": 1},
        },
        "strategy": {"type": "canary", "steps": [10, 20, 40, 60], "interval": "30s", "threshold": 5,
                     "progressDeadline": "5m", "provider": "gatewayapi:v1beta1"},
        "slo": {"successRate": 99, "latencyP99": "500ms", "interval": "1m"},
        "gates": {"loadTest": {"rps": 10, "concurrency": 2, "path": "/", "timeout": "5s"},
                  "acceptanceTest": {"cmd": "curl -sd 'test' CANARY_URL/token | grep token", "timeout": "30s"}},
    },
}


def develop(options: RenderOptions) -> Layer | None:
    if not options.develop:
        return None
    name, environment = str(DEMO["metadata"]["name"]), str(DEMO["environment"])
    namespace = namespace_for(str(DEMO["metadata"]["namespace"]), environment)
    labels = {"app.kubernetes.io/managed-by": "rollouts", "rollouts.dev/environment": environment, **PRIVILEGED}
    # after the analysis controller: the demo's Canary is a service like any other
    return Layer(flux_kustomization("develop", f"./{DIRECTORY}", ("analysis-controller",), options.repo_name,
                                    wait=False,
                                    timeout="5m", canary=(name, namespace)),
                 DIRECTORY, {"namespace.yaml": [system_namespace(namespace, labels, INJECT)]},
                 services=((cast("Resolved", DEMO), DEMO_SELECTOR),))
