"""Synthetic repositories for the benchmarks: N services cycling through the three strategies, 2 environments."""

from __future__ import annotations

import os

SPEC = """\
apiVersion: rollouts/v1alpha1
kind: ServiceRollout
metadata:
  name: {name}
  namespace: team-{team}
  owner: team-{team}
spec:
  workload:
    chart:
      repository: oci://ghcr.io/acme/charts/web
      version: 2.3.{i}
    image:
      repository: ghcr.io/acme/{name}
      tag: 1.{i}.0
    values:
      resources:
        requests: {{cpu: 250m, memory: 256Mi}}
        limits: {{memory: 512Mi}}
    port: 8080
    autoscaling: {{minReplicas: 2, maxReplicas: 10, targetCPU: 70}}
  strategy:
{strategy}
    interval: 1m
    threshold: 2
    progressDeadline: 10m
  slo:
    successRate: 99
    latencyP99: 500ms
  metrics:
    - name: error-rate
      query: |
        sum(rate(response_total{{namespace="{{{{ namespace }}}}", deployment=~"{{{{ target }}}}",
          classification="failure"}}[{{{{ interval }}}}])) or vector(0)
      max: 0.01
      interval: 1m
  gates:
    loadTest: {{rps: 20, concurrency: 4, path: /healthz}}
    acceptanceTest:
      cmd: curl -sf CANARY_URL/api/v1/ready
  alerts:
    - name: slack
      type: slack
      channel: deploys
      secretRef: slack-webhook
  ingress:
    hosts: [{name}.acme.example]
    gateway: {{name: public, namespace: gateway-system}}
    meshedGateway: true
  environments:
    staging:
      strategy: {{interval: 30s, threshold: 2}}
      ingress: {{hosts: [{name}.staging.acme.example]}}
    production: {{}}
"""

STRATEGIES = (
    "    type: canary\n    steps: [5, 25, 50]",
    "    type: abTest\n    iterations: 10\n    match:\n      - headers: {x-canary: {exact: insider}}",
    "    type: blueGreen\n    iterations: 5",
)


def make_repo(directory: str, count: int) -> None:
    for i in range(count):
        name = f"svc-{i:04d}"
        folder = os.path.join(directory, "services", name)
        os.makedirs(folder)
        with open(os.path.join(folder, "rollouts.yaml"), "w", encoding="utf-8") as fh:
            fh.write(SPEC.format(name=name, team=i % 50, i=i, strategy=STRATEGIES[i % 3]))


def render_repo(directory: str, count: int) -> str:
    """make_repo, then the real render written to ``directory``/flux; returns the tree's path."""
    from rollouts.project import load_project
    from rollouts.render import render, write_tree

    make_repo(directory, count)
    project = load_project(directory)
    result = render(project)
    if not result.ok:
        raise SystemExit(f"render failed: {result.findings[:3]}")
    write_tree(project, result)
    return os.path.join(directory, "flux")
