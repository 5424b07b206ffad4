"""The control plane itself: a Deployment gets Ready pods (scheduler + kwok), the fixture's kubectl works."""

from __future__ import annotations

import json

from tests.e2e.cluster import Cluster, wait_for

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: smoke, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: smoke}}
  template:
    metadata: {labels: {app: smoke}}
    spec:
      containers: [{name: app, image: registry.invalid/smoke:1}]
"""


def test_deployment_becomes_ready(cluster: Cluster) -> None:
    cluster.apply(DEPLOYMENT)

    def ready() -> bool:
        out = cluster.kubectl("get", "deployment", "smoke", "-o", "json", check=True).stdout
        return bool(json.loads(out).get("status", {}).get("readyReplicas") == 2)

    wait_for("2 ready replicas of deployment smoke", ready, timeout=90)
    cluster.kubectl("delete", "deployment", "smoke", "--wait=false", check=True)
