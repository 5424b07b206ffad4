"""Flux-only rollback (strategy fluxRollback, no Flagger) on the real control plane: the rendered HelmRepository and
HelmRelease of the inventory example, reconciled by real source-controller and helm-controller (v1.6.3, built by
scripts/e2e-build) from a Helm repository served over HTTP on 127.0.0.1.

The test chart (made here, packaged as Helm packages it: a gzipped tar of ``inventory/``) has a Deployment, a
Service and one Helm test, a Pod annotated ``helm.sh/hook: test`` whose label ``rollouts.e2e/test`` says how it
ends: kwok's ``helm-test-pass`` and ``helm-test-fail`` stages (tests/e2e/cluster.py) complete it with exit code 0 or
1, as a kubelet would report the test container. Version 1.4.0's test passes, 1.5.0's fails, 1.6.0 has no test.

The TEST setting is the spec's chart repository (the served URL) and a shorter releaseTimeout; the rest is the
example's render. Then:

* 1.4.0 installs, its test passes: Ready, TestSuccess True;
* 1.5.0 upgrades, its test fails: helm-controller rolls back to 1.4.0 (Remediated True, RollbackSucceeded; the
  Deployment runs 1.4.0's image again) within the plan's worst case, and does not retry (retries 0);
* 1.6.0, a chart without tests, passes vacuously ("no test hooks"): what lint's flux-rollback-without-tests
  refuses.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rollouts.render.plan import plan
from rollouts.spec.load import load
from rollouts.spec.resolve import resolve

from tests.e2e.cluster import Cluster, free_port
from tests.e2e.flux import FluxControllers, Kubectl, condition, wait_for
from tests.e2e.tree import copy_project, render

pytestmark = pytest.mark.e2e

SERVICE, ENV, NAMESPACE = "inventory", "staging", "shop-staging"
TIMEOUT = "30s"  # the TEST setting of strategy.releaseTimeout
TEST = "inventory-test-stock-api"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Values.fullnameOverride }}
  labels: {app.kubernetes.io/name: {{ .Values.fullnameOverride }}}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: {app.kubernetes.io/name: {{ .Values.fullnameOverride }}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: {{ .Values.fullnameOverride }}}
    spec:
      containers:
      - name: app
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        ports: [{containerPort: 8080, name: http}]
"""
SERVICE_YAML = """\
apiVersion: v1
kind: Service
metadata:
  name: {{ .Values.fullnameOverride }}
spec:
  selector: {app.kubernetes.io/name: {{ .Values.fullnameOverride }}}
  ports: [{name: http, port: 8080, targetPort: http}]
"""
TEST_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: %s
  labels: {rollouts.e2e/test: %s}
  annotations: {helm.sh/hook: test, helm.sh/hook-delete-policy: before-hook-creation}
spec:
  restartPolicy: Never
  containers:
  - name: check
    image: curlimages/curl:8.11.1
    args: ["-fsS", "http://{{ .Values.fullnameOverride }}:8080/api/stock"]
"""


def package(version: str, test: str | None) -> bytes:
    """The chart as ``helm package`` writes it: a gzipped tar of inventory/ (Chart.yaml, values, templates)."""
    files = {"Chart.yaml": f"apiVersion: v2\nname: inventory\nversion: {version}\nappVersion: {version}\n",
             "values.yaml": "fullnameOverride: inventory\nreplicaCount: 1\nimage: {repository: x, tag: y}\n",
             "templates/deployment.yaml": DEPLOYMENT, "templates/service.yaml": SERVICE_YAML}
    if test is not None:
        files["templates/tests/test-stock-api.yaml"] = TEST_POD % (TEST, test)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"inventory/{name}")
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


class ChartRepository:
    """A Helm repository (index.yaml and the packages) served over HTTP on 127.0.0.1."""

    def __init__(self, charts: dict[str, bytes]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        entries = [{"apiVersion": "v2", "name": "inventory", "version": v, "appVersion": v,
                    "urls": [f"{self.url}/inventory-{v}.tgz"], "digest": hashlib.sha256(data).hexdigest(),
                    "created": "2026-01-01T00:00:00Z"} for v, data in sorted(charts.items())]
        index = yaml.safe_dump({"apiVersion": "v1", "entries": {"inventory": entries},
                                "generated": "2026-01-01T00:00:00Z"}).encode()
        files = {"/index.yaml": index, **{f"/inventory-{v}.tgz": d for v, d in charts.items()}}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = files.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ChartRepository:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Release:
    """The inventory example, its chart repository and the controllers: ``release(version)`` renders the spec at
    that chart version and applies its release.yaml (HelmRepository and HelmRelease)."""

    def __init__(self, kube: Kubectl, root: Path, repository: ChartRepository, controllers: FluxControllers) -> None:
        self.kube, self.root, self.repository, self.controllers = kube, root, repository, controllers
        self.spec = root / "services" / SERVICE / "rollouts.yaml"

    def set(self, version: str) -> None:
        data = yaml.safe_load(self.spec.read_text(encoding="utf-8"))
        workload = data["spec"]["workload"]
        workload["chart"].update(repository=self.repository.url, version=version)
        workload["image"]["tag"] = version
        data["spec"]["strategy"]["releaseTimeout"] = TIMEOUT
        data["spec"]["environments"][ENV]["strategy"] = {"releaseTimeout": TIMEOUT}
        self.spec.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    def release(self, version: str) -> float:
        self.set(version)
        rendered = render(self.root)
        objects = [obj for path, _, obj in rendered.objects(f"apps/{ENV}/{SERVICE}") if path.name == "release.yaml"]
        assert [o["kind"] for o in objects] == ["HelmRepository", "HelmRelease"]
        started = time.monotonic()
        self.kube.apply(*objects)
        return started

    def get(self) -> dict[str, Any]:
        obj = self.kube.get("-n", NAMESPACE, "helmrelease", SERVICE)
        assert obj is not None
        return obj

    def image(self) -> str:
        deployment = self.kube.get("-n", NAMESPACE, "deployment", SERVICE) or {}
        containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [{}]
        return str(containers[0].get("image", ""))

    def details(self) -> str:
        obj = self.kube.get("-n", NAMESPACE, "helmrelease", SERVICE) or {}
        return f"HelmRelease status: {json.dumps(obj.get('status'), indent=1)}\n{self.controllers.logs(25)}"


@pytest.fixture(scope="module")
def inventory(cluster: Cluster, crds: list[Path], need_bin: Callable[[str], str]) -> Iterator[Release]:
    """The controllers and the chart repository, on the session's cluster with every shared CRD (``crds``)."""
    for name in ("source-controller", "helm-controller"):
        need_bin(name)
    work = cluster.workdir / "flux-rollback-e2e"
    work.mkdir()
    kube = Kubectl(cluster.kubectl)
    for ns in ("flux-system", NAMESPACE):
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    charts = {"1.4.0": package("1.4.0", "pass"), "1.5.0": package("1.5.0", "fail"), "1.6.0": package("1.6.0", None)}
    root = copy_project(work / "project")
    with ChartRepository(charts) as repository:
        controllers = FluxControllers(need_bin, str(cluster.kubeconfig), str(work), helm=True)
        try:
            controllers.start()
            yield Release(kube, root, repository, controllers)
        finally:
            controllers.stop()


def _ready_at(release: Release, version: str) -> Callable[[], bool]:
    def probe() -> bool:
        obj = release.get()
        history = (obj.get("status") or {}).get("history") or [{}]
        return (condition(obj, "Ready").get("status") == "True" and history[0].get("chartVersion") == version
                and condition(obj, "TestSuccess").get("status") == "True")
    return probe


def test_a_failing_helm_test_rolls_the_release_back_within_the_plan(inventory: Release) -> None:
    inventory.release("1.4.0")
    wait_for("1.4.0 installed and its Helm test passed", _ready_at(inventory, "1.4.0"), timeout=180,
             details=inventory.details)
    assert inventory.image().endswith(":1.4.0")

    started = inventory.release("1.5.0")

    def rolled_back() -> dict[str, Any]:
        remediated = condition(inventory.get(), "Remediated")
        return remediated if remediated.get("status") == "True" else {}

    remediated = wait_for("1.5.0's failed test rolled back", rolled_back, timeout=180, details=inventory.details)
    took = time.monotonic() - started
    assert remediated["reason"] == "RollbackSucceeded", inventory.details()
    obj = inventory.get()
    assert condition(obj, "TestSuccess").get("status") == "False", inventory.details()
    assert condition(obj, "Ready").get("status") == "False"
    wait_for("the Deployment back on 1.4.0", lambda: inventory.image().endswith(":1.4.0"), timeout=60,
             details=inventory.details)
    # the plan of the spec that was released bounds the time from the upgrade to the rollback
    spec, found = load(str(inventory.spec))
    assert spec is not None, found
    worst = plan(resolve(spec, ENV)).figure("worst case from the first bad request to rollback")
    assert worst == 60.0  # (1 upgrade + 1 test) x releaseTimeout 30s
    assert took <= worst, f"rolled back after {took:.0f} s, the plan's worst case is {worst:.0f} s"
    print(f"\nfluxRollback: 1.5.0's failed Helm test rolled back after {took:.1f} s (plan: at most {worst:.0f} s)")
    # retries 0: no second upgrade of 1.5.0 after the rollback
    time.sleep(5)
    assert inventory.get()["status"].get("upgradeFailures", 0) == 1, inventory.details()
    assert inventory.image().endswith(":1.4.0")


def test_a_chart_without_tests_passes_vacuously(inventory: Release) -> None:
    inventory.release("1.6.0")
    wait_for("1.6.0 released", _ready_at(inventory, "1.6.0"), timeout=180, details=inventory.details)
    message = condition(inventory.get(), "TestSuccess").get("message", "")
    assert "no test hooks" in message, message
