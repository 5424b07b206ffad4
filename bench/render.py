"""Benchmark ``rollouts render``: N synthetic services x 2 environments in a temporary repository.

Prints the median wall time and peak memory (ru_maxrss of the render process) of a full render and of
``render --check`` on the unchanged tree, and beside them ``helm template`` of an equivalent local chart for the
same services, run in the same session, as a ratio. Targets on 2 cores: render <= 3 s and <= 500 MB for 1,000
services x 2 environments; --check <= 1.5 s.

    .venv/bin/python bench/render.py [--services 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from synthetic import make_repo  # bench/ is on sys.path when run as a script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)

def timed(cmd: list[str], cwd: str) -> tuple[float, float, int, float]:
    """Wall seconds, peak RSS in MB, exit code, and CPU seconds (user + system, with its worker processes)."""
    # stderr to a file, not a pipe: the render's list of Secrets to create outgrows a pipe's buffer at 1,000
    # services, and a child blocked writing to a pipe nobody reads never exits
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace")[-2000:])
    return wall, usage.ru_maxrss / 1024, code, usage.ru_utime + usage.ru_stime


HELM_TEMPLATE = """\
{{- range $svc := .Values.services }}
{{- range $env := $svc.environments }}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: {{ $svc.name | quote }}
  namespace: {{ $env.namespace | quote }}
  labels:
    app.kubernetes.io/name: {{ $svc.name | quote }}
    rollouts.dev/environment: {{ $env.name | quote }}
spec:
  provider: gatewayapi:v1beta1
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: {{ $svc.name | quote }}}
  autoscalerRef: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: {{ $svc.name | quote }}}
  progressDeadlineSeconds: 600
  revertOnDeletion: true
  service:
    port: {{ $svc.port }}
    gatewayRefs:
      - name: {{ $svc.name | quote }}
        namespace: {{ $env.namespace | quote }}
        group: core
        kind: Service
        port: {{ $svc.port }}
  analysis:
    interval: {{ $env.interval | quote }}
    threshold: {{ $env.threshold }}
    stepWeights: {{ toJson $svc.steps }}
    metrics:
      - name: success-rate
        templateRef: {name: {{ printf "%s-success-rate" $svc.name | quote }}, namespace: {{ $env.namespace | quote }}}
        thresholdRange: {min: 99}
        interval: 1m
    webhooks:
      - name: load-test
        type: rollout
        url: http://flagger-loadtester.flagger-system/
        metadata:
          cmd: {{ printf "hey -z 1m -q 5 -c 4 http://%s-canary.%s:%v/healthz"
                  $svc.name $env.namespace $svc.port | quote }}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: {{ printf "%s-success-rate" $svc.name | quote }}
  namespace: {{ $env.namespace | quote }}
spec:
  provider: {type: prometheus, address: "http://prometheus.linkerd-viz:9090"}
  query: {{ $.Values.query | quote }}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {{ $svc.name | quote }}
  namespace: {{ $env.namespace | quote }}
spec:
  interval: 10m
  chartRef: {kind: OCIRepository, name: {{ $svc.name | quote }}}
  values: {{ toJson $svc.values }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $svc.name | quote }}
  namespace: {{ $env.namespace | quote }}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: {{ $svc.name | quote }}}
  minReplicas: 2
  maxReplicas: 10
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata:
  name: {{ $svc.name | quote }}
  namespace: {{ $env.namespace | quote }}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/instance: {{ $svc.name | quote }}}}
  port: {{ $svc.port }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {{ printf "%s-public" $svc.name | quote }}
  namespace: {{ $env.namespace | quote }}
spec:
  parentRefs: [{kind: Gateway, name: public, namespace: gateway-system}]
  hostnames: [{{ printf "%s.acme.example" $svc.name | quote }}]
  rules: [{backendRefs: [{name: {{ $svc.name | quote }}, port: {{ $svc.port }}}]}]
{{- end }}
{{- end }}
"""


def make_chart(directory: str, count: int) -> str:
    import json

    chart = os.path.join(directory, "equivalent-chart")
    os.makedirs(os.path.join(chart, "templates"))
    with open(os.path.join(chart, "Chart.yaml"), "w", encoding="utf-8") as fh:
        fh.write("apiVersion: v2\nname: equivalent\nversion: 0.1.0\n")
    with open(os.path.join(chart, "templates", "services.yaml"), "w", encoding="utf-8") as fh:
        fh.write(HELM_TEMPLATE)
    services = [{"name": f"svc-{i:04d}", "port": 8080, "steps": [5, 25, 50],
                 "values": {"resources": {"requests": {"cpu": "250m"}}, "image": {"tag": f"1.{i}.0"}},
                 "environments": [{"name": "staging", "namespace": f"team-{i % 50}-staging", "interval": "30s",
                                   "threshold": 2},
                                  {"name": "production", "namespace": f"team-{i % 50}", "interval": "1m",
                                   "threshold": 3}]}
                for i in range(count)]
    with open(os.path.join(chart, "values.yaml"), "w", encoding="utf-8") as fh:
        json.dump({"services": services, "query": "sum(rate(response_total[1m]))"}, fh)
    return chart


def write_reference(tree: str, scratch: str) -> float:
    """Seconds to write the same files (same directories, same bytes) with plain os.open/os.write into
    ``scratch`` on the same filesystem: what the disk alone costs, whatever renders them."""
    blobs = []
    for directory, _, names in os.walk(tree):
        for name in names:
            with open(os.path.join(directory, name), "rb") as fh:
                blobs.append((os.path.relpath(directory, tree), name, fh.read()))
    os.sync()
    start = time.perf_counter()
    for rel, name, data in blobs:
        target = os.path.join(scratch, rel)
        os.makedirs(target, exist_ok=True)
        fd = os.open(os.path.join(target, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)
    elapsed = time.perf_counter() - start
    shutil.rmtree(scratch)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", default=None,
                        help="where the temporary repository goes (default: the system temp dir; /dev/shm takes "
                             "the disk out of the measurement on a machine whose disk others are busy with)")
    args = parser.parse_args()
    rollouts = os.path.join(BIN, "rollouts")
    helm = os.path.join(BIN, "helm") if os.path.exists(os.path.join(BIN, "helm")) else shutil.which("helm")
    with tempfile.TemporaryDirectory(prefix="rollouts-bench-", dir=args.dir) as tmp:
        make_repo(tmp, args.services)
        renders, checks, colds = [], [], []
        for _ in range(args.runs):
            shutil.rmtree(os.path.join(tmp, "flux"), ignore_errors=True)
            shutil.rmtree(os.path.join(tmp, ".rollouts"), ignore_errors=True)
            os.sync()  # the previous run's writes are not this run's cost
            renders.append(timed([rollouts, "render"], tmp))
            checks.append(timed([rollouts, "render", "--check"], tmp))
            colds.append(timed([rollouts, "render", "--check", "--no-cache"], tmp))
        if any(run[2] != 0 for run in renders + checks + colds):
            print("a render or check failed", [run[2] for run in renders + checks + colds], file=sys.stderr)
            return 1
        files = sum(len(f) for _, _, f in os.walk(os.path.join(tmp, "flux")))
        writes = statistics.median(write_reference(os.path.join(tmp, "flux"), os.path.join(tmp, "write-reference"))
                                   for _ in range(args.runs))
        render_s = statistics.median(run[0] for run in renders)
        render_mb = max(run[1] for run in renders)
        render_cpu = statistics.median(run[3] for run in renders)
        check_s = statistics.median(run[0] for run in checks)
        check_mb = max(run[1] for run in checks)
        check_cpu = statistics.median(run[3] for run in checks)
        cold_s = statistics.median(run[0] for run in colds)
        cold_cpu = statistics.median(run[3] for run in colds)
        print(f"services: {args.services} x 2 environments, {files} files, median of {args.runs} runs, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, in {args.dir or tempfile.gettempdir()}")
        print(f"render          : {render_s:6.2f} s  peak {render_mb:6.0f} MB  cpu {render_cpu:5.2f} s"
              "   (target <= 3 s, <= 500 MB)")
        print(f"  reference     : {writes:6.2f} s  writing the same {files} files with plain os.open/os.write "
              f"on the same filesystem; render minus that: {render_s - writes:.2f} s")
        print(f"render --check  : {check_s:6.2f} s  peak {check_mb:6.0f} MB  cpu {check_cpu:5.2f} s"
              "   (target <= 1.5 s; after the render, so its cache is warm)")
        print(f"  --no-cache    : {cold_s:6.2f} s               cpu {cold_cpu:5.2f} s"
              "   (every spec linted and rendered, as in a fresh clone)")
        if helm is None:
            print("helm template   : helm not installed (bash .ci/setup --bench)")
            return 0
        chart = make_chart(tmp, args.services)
        helms = [timed([helm, "template", "bench", chart], tmp) for _ in range(args.runs)]
        helm_s = statistics.median(run[0] for run in helms)
        helm_mb = max(run[1] for run in helms)
        helm_cpu = statistics.median(run[3] for run in helms)
        print(f"helm template   : {helm_s:6.2f} s  peak {helm_mb:6.0f} MB  cpu {helm_cpu:5.2f} s"
              "   (equivalent chart, same services)")
        print(f"ratio render / helm template: {render_s / helm_s:.2f}x wall, {render_cpu / helm_cpu:.2f}x cpu, "
              f"{render_mb / helm_mb:.2f}x memory; render --check / helm template: {check_s / helm_s:.2f}x wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
