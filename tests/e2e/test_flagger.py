"""The rendered Canaries and MetricTemplates run by a real Flagger (built from github.com/fluxcd/flagger at the pinned
version, the mesh provider and metrics server the rendered Flagger HelmRelease sets) against real Prometheus
servers, on the real control plane.

- The linkerd-viz Prometheus (``prometheus.linkerd-viz:9090``) scrapes only a fake of the Linkerd proxies
  (``fake_linkerd_proxy.FakeLinkerdProxy``: the proxy's metric names and labels, no failure series before the first
  failure); an app Prometheus (``prometheus.monitoring:9090``) scrapes the pods' own metrics
  (``billing_queue_lag_seconds``). Each listens on its own loopback address, port 9090, as rendered.
- The gates' webhooks are answered by a fake of Flagger's loadtester on ``flagger-loadtester.flagger-system:80``
  (``fake_loadtester``); a ``helm``/``helmv3`` task is refused (500) unless the loadtester's ServiceAccount may do
  what ``helm test`` does in the namespace, asked of the real API server (``kubectl auth can-i --as``).
- The analysis controller's webhooks (``analysis-controller.flagger-system:8080``) are answered by its image
  (scripts/controller-image), run with podman on the host network as the rendered StatefulSet runs it, with the
  rendered config of each environment, a token of its rendered ServiceAccount (its operator state goes through the
  rendered RBAC) and an /etc/hosts of its own: the mesh Prometheus, and the probed services' canary and primary
  names mapped to a test app of their journeys (``probe_app.ProbeApp``).
- Flagger runs out of cluster in its own mount namespace whose /etc/hosts maps those in-cluster names to the
  loopback addresses.
- The Deployment and Service the chart would create are made by the test (labels matching the rendered selectors);
  a rollout is triggered by changing the image tag, as a release does.

Intervals: the TEST setting ROLLOUTS_E2E_INTERVAL (default 20s) replaces every ``strategy.interval`` in a copy of
the specs (tests/e2e/tree.py). All scenarios run at once (one per Canary, staging and production are distinct).
Measured times are compared with Flagger's scheduler (pkg/controller/scheduler.go at v1.44.0), counted from the tick
that sets Progressing:

- canary with N stepWeights: pre-rollout + first weight, N-1 more weights, promote, route back (Finalising),
  scale down (Succeeded): (N + 3) intervals;
- A/B with I iterations: I iteration ticks, promote, Finalising, Succeeded: (I + 3) intervals;
- blue/green with I iterations: I iteration ticks, one tick routing all traffic to the canary, promote,
  Finalising, Succeeded: (I + 4) intervals (plus the time a manual gate stays closed);
- rollback: failed checks are counted once per tick and the threshold is checked at the start of the next one, so
  the rollback comes ``threshold`` intervals after the first failed check.
"""

from __future__ import annotations

import base64
import calendar
import concurrent.futures
import contextlib
import json
import math
import os
import shlex
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml
from rollouts.render.plan import Plan

from tests.e2e.cluster import Cluster, Process, free_port, wait_for
from tests.e2e.fake_linkerd_proxy import AppMetrics, FakeLinkerdProxy
from tests.e2e.fake_loadtester import FakeLoadtester
from tests.e2e.probe_app import ProbeApp
from tests.e2e.test_controller_image import Controller, Image, image, started
from tests.e2e.timeline import REPORT, CanaryWatch, Sample, render_timeline
from tests.e2e.tree import Rendered, copy_project, e2e_interval, render, seconds

__all__ = ["image"]

MESH_PROMETHEUS = "127.0.0.2"  # prometheus.linkerd-viz
APP_PROMETHEUS = "127.0.0.3"  # prometheus.monitoring
LOADTESTER = "127.0.0.4"  # flagger-loadtester.flagger-system
CONTROLLER = "127.0.0.5"  # analysis-controller.flagger-system: the controller's image, port 8080 as rendered
PROBED = "127.0.0.6"  # <service>-canary.<namespace>, <service>-primary.<namespace>: the probe app
CONTROLLER_PORT = 8080
LOADTESTER_SA = "system:serviceaccount:flagger-system:flagger-loadtester"
# what `helm test` does in the release's namespace (helm pkg/action/release_testing.go): find the last release
# (Secrets driver: list), run the test hook pods and wait for them (create, get, list, watch), delete them by
# hook-delete-policy, record the result on the release (update)
HELM_TEST_NEEDS = (("list", "secrets"), ("update", "secrets"), ("create", "pods"), ("get", "pods"), ("list", "pods"),
                   ("watch", "pods"), ("delete", "pods"))
SERVICES = ("checkout", "frontend", "billing-worker")
ROLLOUTS = str(Path(sys.executable).parent / "rollouts")
TERMINAL = ("Succeeded", "Failed")


def _names(service: str, namespace: str) -> list[str]:
    base = f"{service}.{namespace}"
    return [base, f"{base}.svc", f"{base}.svc.cluster.local"]


HOSTS = dict.fromkeys(_names("prometheus", "linkerd-viz"), MESH_PROMETHEUS)
HOSTS |= dict.fromkeys(_names("prometheus", "monitoring"), APP_PROMETHEUS)
HOSTS |= dict.fromkeys(_names("flagger-loadtester", "flagger-system"), LOADTESTER)
HOSTS |= dict.fromkeys(_names("analysis-controller", "flagger-system"), CONTROLLER)


# -- the environment ------------------------------------------------------------------------------------------


@dataclass
class Env:
    cluster: Cluster
    rendered: Rendered
    proxy: FakeLinkerdProxy
    app: AppMetrics
    loadtester: FakeLoadtester
    watch: CanaryWatch
    probes: ProbeApp
    controller: Controller
    admin: Path  # the test's own kubeconfig (an operator's, for rollouts hold/abort)
    canaries: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (namespace, name) -> Canary
    images: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # -> (repository, tag)
    plans: dict[tuple[str, str], Plan] = field(default_factory=dict)  # -> `rollouts plan` of the suite's specs


def _prometheus(cluster: Cluster, name: str, host: str, target: str) -> Process:
    config = cluster.workdir / f"{name}.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "scrape_configs": [{"job_name": name, "honor_labels": True, "static_configs": [{"targets": [target]}]}],
    }), encoding="utf-8")
    process = cluster.start(name, [cluster.bin("prometheus"), f"--config.file={config}",
                         f"--storage.tsdb.path={cluster.workdir / name}", f"--web.listen-address={host}:9090",
                         "--log.level=warn"])

    def ready() -> bool:
        cluster.check_alive()
        try:
            with urllib.request.urlopen(f"http://{host}:9090/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    wait_for(f"{name} on {host}:9090", ready, timeout=60)
    return process


def _helm_rbac(cluster: Cluster) -> Callable[[dict[str, str]], str | None]:
    """The loadtester's answer to a helm task: None when its ServiceAccount may run `helm test` there."""

    def check(metadata: dict[str, str]) -> str | None:
        words = shlex.split(metadata.get("cmd", ""))
        namespace = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-n", "--namespace")), "default")
        for verb, resource in HELM_TEST_NEEDS:
            answer = cluster.kubectl("auth", "can-i", verb, resource, "-n", namespace, f"--as={LOADTESTER_SA}")
            if answer.stdout.strip() != "yes":
                return (f"Error: {resource} is forbidden: User \"{LOADTESTER_SA}\" cannot {verb} resource "
                        f"\"{resource}\" in API group \"\" in the namespace \"{namespace}\"")
        return None

    return check


def _flagger_flags(rendered: Rendered) -> list[str]:
    release = next(obj for _, _, obj in rendered.objects("infrastructure")
                   if obj["kind"] == "HelmRelease" and obj["metadata"]["name"] == "flagger")
    values = release["spec"].get("values") or {}
    return [f"-mesh-provider={values['meshProvider']}", f"-metrics-server={values['metricsServer']}"]


def _check_hosts(rendered: Rendered, hosts: dict[str, str]) -> None:
    """Every address a rendered MetricTemplate or webhook calls must be one the suite serves."""
    used = set()
    for _, _, obj in rendered.objects("apps"):
        if obj["kind"] == "MetricTemplate":
            used.add(obj["spec"]["provider"]["address"])
        if obj["kind"] == "Canary":
            used |= {hook["url"] for hook in obj["spec"]["analysis"].get("webhooks", [])}
    unknown = sorted(u for u in used if urllib.parse.urlsplit(u).hostname not in hosts)
    assert not unknown, f"rendered URLs the suite does not serve: {unknown}"


def _workload(canary: dict[str, Any], image: tuple[str, str]) -> str:
    """The Deployment and Service the chart would create for this Canary's target."""
    name, namespace = canary["spec"]["targetRef"]["name"], canary["metadata"]["namespace"]
    port = int(canary["spec"]["service"].get("targetPort") or canary["spec"]["service"]["port"])
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace,
                                                                  "labels": labels},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": name, "image": f"{image[0]}:{image[1]}",
                                                       "ports": [{"name": "http", "containerPort": port}]}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace,
                                                                  "labels": labels},
               "spec": {"selector": {"app.kubernetes.io/name": name},
                        "ports": [{"name": "http", "port": port, "targetPort": port}]}}
    return str(yaml.safe_dump_all([deployment, service], sort_keys=False))


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WINDOW_CLOSED = ("shop-staging", "frontend")  # the Canary whose change window is closed when the suite starts


def closed_window() -> dict[str, Any]:
    """A change window on none of the days from yesterday to tomorrow (UTC): closed for the whole run."""
    today = time.gmtime().tm_wday
    days = [d for i, d in enumerate(WEEKDAYS) if i not in {(today - 1) % 7, today, (today + 1) % 7}]
    return {"days": days, "start": "00:00", "end": "23:59", "timeZone": "UTC"}


def e2e_policies(project: Path) -> Path:
    """The suite's change windows: the example specs' own windows are dropped (they would open and close with the
    time of day the suite runs at), and frontend's staging gets one closed for the whole run."""
    from ruamel.yaml import YAML

    rt = YAML()
    for spec in sorted((project / "services").glob("*/rollouts.yaml")):
        data = rt.load(spec.read_text(encoding="utf-8"))
        (data["spec"].get("policy") or {}).pop("changeWindows", None)
        if data["metadata"]["name"] == WINDOW_CLOSED[1]:
            staging = data["spec"]["environments"]["staging"]
            staging["policy"] = {"changeWindows": [closed_window()]}
        with spec.open("w", encoding="utf-8") as fh:
            rt.dump(data, fh)
    return project


def _controller_configs(rendered: Rendered) -> dict[str, str]:
    """Each environment's config.json, from the rendered ConfigMaps (what the pod mounts)."""
    out = {}
    for _, _, obj in rendered.objects("apps"):
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].startswith("analysis-controller-"):
            out[obj["metadata"]["labels"]["rollouts.dev/environment"]] = obj["data"]["config.json"]
    assert out, "no analysis controller config rendered"
    return out


def _controller_kubeconfig(cluster: Cluster, rendered: Rendered, directory: Path) -> Path:
    """The rendered ServiceAccount and RBAC of the controller applied, and a kubeconfig with a token of that
    account (what the pod's projected token gives it): the controller's state goes through the RBAC as rendered."""
    cluster.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flagger-system"}}))
    cluster.apply((rendered.tree / RBAC).read_text(encoding="utf-8"))
    token = cluster.kubectl("create", "token", "analysis-controller", "-n", "flagger-system", "--duration", "4h",
                            check=True).stdout.strip()
    ca = base64.b64encode((cluster.workdir / "pki" / "ca.crt").read_bytes()).decode()
    directory.mkdir()
    path = directory / "config"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "e2e",
        "clusters": [{"name": "e2e", "cluster": {"server": cluster.server, "certificate-authority-data": ca}}],
        "users": [{"name": "analysis-controller", "user": {"token": token}}],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "analysis-controller"}}]}),
        encoding="utf-8")
    directory.chmod(0o755)
    path.chmod(0o644)  # the pod's user reads it (a test credential, gone with the run)
    return path


RBAC = "infrastructure/progressive-delivery/analysis-controller/rbac.yaml"


def _plans(project: Path) -> dict[tuple[str, str], Plan]:
    """The product's plan (rollouts plan) of every service and environment of the suite's specs, by Canary."""
    from rollouts.lint import load_and_lint
    from rollouts.project import load_project
    from rollouts.render.model import namespace_for
    from rollouts.render.plan import plan
    from rollouts.spec.resolve import environments, resolve

    loaded = load_project(str(project))
    out = {}
    for path in sorted((project / "services").glob("*/rollouts.yaml")):
        spec, findings = load_and_lint(loaded, str(path))
        assert spec is not None, findings
        for environment in environments(spec, loaded.environments):
            resolved = resolve(spec, environment)
            meta = resolved["metadata"]
            out[(namespace_for(str(meta["namespace"]), environment), str(meta["name"]))] = plan(resolved)
    return out


@pytest.fixture(scope="module")
def env(cluster: Cluster, crds: list[Path], need_bin: Callable[[str], str], image: Image,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    flagger, _ = need_bin("flagger"), need_bin("prometheus")
    project = copy_project(tmp_path_factory.mktemp("flagger") / "project", e2e_interval())
    rendered = render(e2e_policies(project))
    proxy, app = FakeLinkerdProxy(), AppMetrics()
    proxy.start()
    app.start()
    loadtester = FakeLoadtester(LOADTESTER, 80, helm_check=_helm_rbac(cluster)).start()
    watch = CanaryWatch(cluster)
    started_processes: list[Process] = []
    applied: list[str] = []  # what the test applied, workloads first, the Canaries last
    with contextlib.ExitStack() as stack:
        try:
            objects = [obj for _, _, obj in rendered.objects("apps")]
            canaries = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects
                        if o["kind"] == "Canary"}
            probed = {key: c for key, c in canaries.items()
                      if any(w["type"] == "rollout" and w["url"].startswith("http://analysis-controller.")
                             for w in c["spec"]["analysis"].get("webhooks", []))}
            probes = ProbeApp(PROBED, tuple(sorted({int(c["spec"]["service"]["port"]) for c in probed.values()})))
            stack.callback(probes.start().stop)
            # the controller's own view of the cluster: the mesh Prometheus, and the services it probes
            inside = dict.fromkeys(_names("prometheus", "linkerd-viz"), MESH_PROMETHEUS)
            for namespace, name in probed:
                for track in ("canary", "primary"):
                    inside |= dict.fromkeys(_names(f"{name}-{track}", namespace), PROBED)
            kubeconfig = _controller_kubeconfig(cluster, rendered, tmp_path_factory.mktemp("kube") / "kube")
            controller = stack.enter_context(started(
                image, tmp_path_factory.mktemp("pod"), _controller_configs(rendered), CONTROLLER, CONTROLLER_PORT,
                cluster.hosts_file(inside, "hosts-controller"), kubeconfig))
            env = Env(cluster, rendered, proxy, app, loadtester, watch, probes, controller, cluster.kubeconfig)
            env.canaries.update(canaries)
            env.plans.update(_plans(project))
            started_processes.append(_prometheus(cluster, "prometheus-linkerd-viz", MESH_PROMETHEUS, proxy.target))
            started_processes.append(_prometheus(cluster, "prometheus-monitoring", APP_PROMETHEUS, app.target))
            for obj in objects:
                if obj["kind"] == "HelmRelease":
                    image_values = (obj["spec"].get("values") or {}).get("image") or {}
                    env.images[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = (
                        image_values["repository"], str(image_values["tag"]))
            hosts = dict(HOSTS)
            for namespace, name in env.canaries:
                hosts |= dict.fromkeys(_names(f"{name}-canary", namespace), "127.0.0.1")
            _check_hosts(rendered, hosts)
            namespaces = [obj for obj in objects if obj["kind"] == "Namespace"]
            cluster.apply(yaml.safe_dump_all(namespaces))
            # every object of the services (Canary, MetricTemplates, HPA, PDB, policy, routes, alerts, release...)
            applied.append(yaml.safe_dump_all([o for o in objects if o["kind"] not in ("Namespace", "Canary")]))
            applied.append(yaml.safe_dump_all(list(env.canaries.values())))
            for stream in applied:
                cluster.apply(stream, "--force-conflicts")
            for key, canary in env.canaries.items():
                applied.insert(0, _workload(canary, env.images[key]))
                cluster.apply(applied[0])
                proxy.set(key[0], f"{key[1]}-primary")  # the primary serves healthy traffic throughout
            argv = [flagger, f"-kubeconfig={cluster.kubeconfig}", *_flagger_flags(rendered), f"-port={free_port()}",
                    "-log-level=info", "-enable-leader-election=false"]
            started_processes.append(cluster.start("flagger", argv,
                                                   hosts=cluster.hosts_file(hosts, "hosts-flagger")))
            watch.start()

            def initialized() -> bool:
                cluster.check_alive()
                return all((watch.current(*key) or _NONE).phase == "Initialized" for key in env.canaries)

            wait_for("every Canary Initialized", initialized, timeout=240, every=1)
            yield env
        finally:
            watch.stop()
            _remove(cluster, applied)
            cluster.stop(*started_processes)  # the rest of the session (the Flux suite) runs without them
            loadtester.stop()
            proxy.stop()
            app.stop()


def _remove(cluster: Cluster, applied: list[str]) -> None:
    """Leave the cluster as the next suite expects it: the Canaries deleted while Flagger still runs (their
    revertOnDeletion finalizer is Flagger's to remove; its primaries and routes go with them), then the rest."""
    if not applied:
        return
    cluster.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", "-", input=applied[-1])

    def gone() -> bool:
        return not cluster.kubectl("get", "canaries.flagger.app", "-A", "-o", "name").stdout.strip()

    try:
        wait_for("the Canaries to be finalised by Flagger", gone, timeout=90, every=1)
    except TimeoutError:  # Flagger is gone: drop the finalizers so the namespaces stay usable
        for name in cluster.kubectl("get", "canaries.flagger.app", "-A", "-o",
                                    "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}"
                                    ).stdout.split():
            namespace, canary = name.split("/")
            cluster.kubectl("patch", "canaries.flagger.app", canary, "-n", namespace, "--type=merge", "-p",
                            '{"metadata":{"finalizers":null}}')
    for stream in reversed(applied[:-1]):
        cluster.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", "-", input=stream)


class _None:
    phase = ""


_NONE = _None()


# -- scenarios ------------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    label: str
    namespace: str
    name: str
    tag: str
    errors: float = 0.0
    latency_ms: float = 20.0
    queue_lag: float = 5.0
    open_gate: bool = False  # an operator opens the loadtester gate when the Canary waits for promotion
    window_closed: bool = False  # its change window is closed: reopened (a config change) after HOLD Waiting ticks
    probes_fail: bool = False  # the canary fails its synthetic probes (500 from every step)
    burn_budget: bool = False  # once analysed, the primary fails half its requests: the error budget is spent
    abort_waiting: bool = False  # an operator runs `rollouts abort` after HOLD ticks of WaitingPromotion


HOLD = 2  # intervals a scenario waits in Waiting or WaitingPromotion before its operator acts


@dataclass
class Outcome:
    scenario: Scenario
    canary: dict[str, Any]
    trigger: float
    samples: list[Sample]
    notes: list[tuple[float, str]]
    events: list[tuple[float, str, str]]  # (time, type, message) of the Canary's events since the trigger
    gate_wait: float = 0.0
    acted: float | None = None  # when the operator opened the window or aborted
    plan: Plan | None = None  # what `rollouts plan` says this Canary does

    @property
    def phase(self) -> str:
        return self.samples[-1].state.phase if self.samples else ""

    def first(self, predicate: Callable[[Sample], bool]) -> float | None:
        return next((s.at for s in self.samples if predicate(s)), None)

    @property
    def progressing(self) -> float | None:
        return self.first(lambda s: s.state.phase == "Progressing")

    @property
    def end(self) -> float | None:
        return self.first(lambda s: s.state.phase in TERMINAL)

    @property
    def first_failed_check(self) -> float | None:
        return self.first(lambda s: s.state.failed > 0)

    def warnings(self) -> list[str]:
        return [message for _, kind, message in self.events if kind == "Warning"]


def _events(cluster: Cluster, namespace: str, name: str, since: float) -> list[tuple[float, str, str]]:
    result = cluster.kubectl("get", "events", "-n", namespace, "-o", "json",
                             "--field-selector", f"involvedObject.kind=Canary,involvedObject.name={name}", check=True)
    out = []
    for item in json.loads(result.stdout)["items"]:
        stamp = item.get("lastTimestamp") or item.get("eventTime") or item["metadata"]["creationTimestamp"]
        at = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
        if at >= since - 1:
            out.append((at, str(item.get("type", "")), str(item.get("message", ""))))
    return sorted(out)


def open_window(env: Env, namespace: str, name: str) -> None:
    """The change window opens: the environment's config without it, as Flux would apply a spec change (the
    controller reloads the mounted file; an atomic rename, as the kubelet's symlink swap is)."""
    environment = next(env for env, ns in (("staging", "shop-staging"), ("production", "shop")) if ns == namespace)
    path = Path(env.controller.volumes[f"config-{environment}"]) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    del config["services"][f"{namespace}/{name}"]["changeWindows"]
    staged = path.with_name(".config.json.new")
    staged.write_text(json.dumps(config, sort_keys=True), encoding="utf-8")
    staged.chmod(0o644)
    os.replace(staged, path)


def operator(env: Env, action: str, namespace: str, name: str, environment: str, reason: str) -> str:
    """`rollouts <action>` as an operator runs it, with the operator's kubeconfig."""
    result = subprocess.run([ROLLOUTS, action, f"{namespace}/{name}", "--env", environment, "--reason", reason,
                             "--kubeconfig", str(env.admin)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _since(history: list[Sample], phase: str) -> float | None:
    """When the Canary entered ``phase`` for the last time (it is in it now), else None."""
    if not history or history[-1].state.phase != phase:
        return None
    at = history[-1].at
    for sample in reversed(history):
        if sample.state.phase != phase:
            break
        at = sample.at
    return at


def run(env: Env, scenario: Scenario, timeout: float = 600) -> Outcome:
    """Trigger a release of ``scenario.name`` whose pods behave as the scenario says; follow it to its end."""
    cluster, key = env.cluster, (scenario.namespace, scenario.name)
    canary = env.canaries[key]
    repository, _ = env.images[key]
    notes: list[tuple[float, str]] = []
    env.proxy.set(scenario.namespace, scenario.name, errors=scenario.errors, latency_ms=scenario.latency_ms)
    env.app.set("billing_queue_lag_seconds", scenario.namespace, scenario.name, scenario.queue_lag)  # its pods' gauge
    env.probes.fail(scenario.namespace, scenario.name, "canary", scenario.probes_fail)
    trigger = time.time()
    cluster.kubectl("set", "image", "-n", scenario.namespace, f"deployment/{scenario.name}",
                    f"{scenario.name}={repository}:{scenario.tag}", check=True)
    notes.append((trigger, f"image -> {scenario.tag} (errors {scenario.errors:.0%}, "
                           f"latency {scenario.latency_ms:g} ms{', probes failing' if scenario.probes_fail else ''})"))
    interval = seconds(canary["spec"]["analysis"]["interval"])
    environment = "staging" if scenario.namespace.endswith("-staging") else "production"
    gate_wait, waiting_since, acted, burning = 0.0, None, None, False
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            cluster.check_alive()
            history = env.watch.history(*key, since=trigger)
            seen_progress = any(s.state.phase == "Progressing" for s in history)
            state = history[-1].state if history else None
            if state and state.phase == "WaitingPromotion" and scenario.open_gate and waiting_since is None:
                waiting_since = history[-1].at
                time.sleep(interval)  # the operator takes a moment
                status = env.loadtester.open_gate(scenario.name, scenario.namespace)
                # promotion comes at the first tick after the gate opens: whole intervals spent waiting
                gate_wait = math.ceil((time.time() - waiting_since) / interval) * interval
                notes.append((time.time(), f"operator: POST /gate/open -> {status}"))
            waiting = _since(history, "Waiting")
            if scenario.window_closed and acted is None and waiting and time.time() - waiting >= HOLD * interval:
                open_window(env, *key)
                acted = time.time()
                notes.append((acted, "the change window opens (the controller's config without it)"))
            analysed = any(s.state.weight > 0 or s.state.iterations > 0 for s in history)  # pre-rollout passed
            if scenario.burn_budget and analysed and not burning:
                env.proxy.set(scenario.namespace, f"{scenario.name}-primary", errors=0.5)
                burning = True
                notes.append((time.time(), "the primary fails 50% of its requests"))
            promoting = _since(history, "WaitingPromotion")
            if scenario.abort_waiting and acted is None and promoting and time.time() - promoting >= HOLD * interval:
                said = operator(env, "abort", *key, environment, "e2e: the error budget is spent")
                acted = time.time()
                notes.append((acted, f"operator: rollouts abort -> {said}"))
            if seen_progress and state and state.phase in TERMINAL:
                break
            time.sleep(1)
    finally:
        env.probes.fail(scenario.namespace, scenario.name, "canary", False)
        if burning:
            env.proxy.set(scenario.namespace, f"{scenario.name}-primary")
    samples = env.watch.history(*key, since=trigger)
    return Outcome(scenario, canary, trigger, samples, notes, _events(cluster, *key, trigger), gate_wait, acted,
                   env.plans[key])


def report(outcome: Outcome, lines: list[str]) -> None:
    events = [(at, f"event {kind}: {message}") for at, kind, message in outcome.events]
    block = render_timeline(f"{outcome.scenario.label}: {outcome.scenario.namespace}/{outcome.scenario.name}",
                            outcome.trigger, outcome.samples, outcome.notes + events)
    REPORT.append(block + "\n" + "\n".join(f"  {line}" for line in lines))


# The scenarios, started together; each test waits for its own; the releases of one lane (one Canary) in a row.
PLAN: dict[str, list[Scenario]] = {
    "checkout-production": [Scenario("canary, healthy, zero errors", "shop", "checkout", "1.4.3"),
                            Scenario("canary, p99 900 ms over a 500 ms budget", "shop", "checkout", "1.4.4",
                                     latency_ms=900),
                            Scenario("canary, healthy, error budget spent by the primary, aborted", "shop",
                                     "checkout", "1.4.5", burn_budget=True, abort_waiting=True)],
    "checkout-staging": [Scenario("canary, 30% errors", "shop-staging", "checkout", "1.4.3", errors=0.3),
                         Scenario("canary, failing its synthetic probes", "shop-staging", "checkout", "1.4.4",
                                  probes_fail=True)],
    "frontend-production": [Scenario("A/B, healthy", "shop", "frontend", "3.12.1"),
                            Scenario("A/B, p95 900 ms over a 300 ms budget", "shop", "frontend", "3.12.2",
                                     latency_ms=900)],
    "frontend-staging": [Scenario("A/B, closed change window, then 30% errors", "shop-staging", "frontend",
                                  "3.12.1", errors=0.3, window_closed=True)],
    "billing-staging": [Scenario("blue/green, healthy", "billing-staging", "billing-worker", "2.0.8"),
                        Scenario("blue/green, 30% errors", "billing-staging", "billing-worker", "2.0.9",
                                 errors=0.3),
                        Scenario("blue/green, p99 1.5 s over a 1 s budget", "billing-staging", "billing-worker",
                                 "2.0.10", latency_ms=1500)],
    "billing-production": [Scenario("blue/green, healthy, manual approval", "billing", "billing-worker", "2.0.8",
                                    open_gate=True)],
}


@pytest.fixture(scope="module")
def outcomes(env: Env) -> Iterator[dict[str, list[concurrent.futures.Future[Outcome]]]]:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(PLAN))
    futures: dict[str, list[concurrent.futures.Future[Outcome]]] = {}

    def chain(scenarios: list[Scenario], slots: list[concurrent.futures.Future[Outcome]]) -> None:
        for scenario, slot in zip(scenarios, slots, strict=True):
            try:
                slot.set_result(run(env, scenario))
            except BaseException as exc:
                slot.set_exception(exc)

    for lane, scenarios in PLAN.items():
        futures[lane] = [concurrent.futures.Future() for _ in scenarios]
        pool.submit(chain, scenarios, futures[lane])
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def interval_of(canary: dict[str, Any]) -> float:
    return seconds(canary["spec"]["analysis"]["interval"])


def skipped_ticks(outcome: Outcome, start: float, end: float, interval: float) -> tuple[int, list[float]]:
    """Ticks Flagger did not run between ``start`` and ``end``: a gap of more than 1.5 intervals between two
    changes of the Canary's state with no Warning event inside it (a webhook or metric problem warns at the tick it
    fails; a scheduler that missed a tick on this 2-core machine does not; events are stamped to the second and the
    state is polled every second, so a tick's own events sit within 3 s of its ends), less the ticks of a manual
    gate's wait. Returns the count and
    where the gaps start, so the report says what was discounted."""
    times = [s.at for s in outcome.samples if start <= s.at <= end]
    warned = [at for at, kind, _ in outcome.events if kind == "Warning"]
    count, where = 0, []
    for a, b in pairwise(times):
        missed = round((b - a) / interval) - 1
        if missed > 0 and not any(a + 3 < w < b - 3 for w in warned):  # a tick's own events: at its ends
            count += missed
            where.append(a)
    gate = round(outcome.gate_wait / interval)
    return max(0, count - gate), where if count > gate else []


def _discounted(skipped: int, where: list[float], trigger: float) -> str:
    if not skipped:
        return ""
    return (f"; less {skipped} tick(s) Flagger did not run (no state change and no warning for over 1.5 intervals "
            f"after t+{', t+'.join(f'{w - trigger:.1f}s' for w in where)})")


def assert_promoted(outcome: Outcome) -> None:
    interval = interval_of(outcome.canary)
    lines = []
    try:
        assert outcome.phase == "Succeeded", (f"{outcome.scenario.label}: ended {outcome.phase!r}; warnings: "
                                              f"{outcome.warnings()[-5:]}")
        assert outcome.progressing is not None and outcome.end is not None
        skipped, where = skipped_ticks(outcome, outcome.progressing, outcome.end, interval)
        measured = outcome.end - outcome.progressing - outcome.gate_wait - skipped * interval
        assert outcome.plan is not None and outcome.plan.interval == interval
        planned = outcome.plan.figure("time to promotion")
        lines.append(f"time to promotion (from Progressing{', less the gate wait' if outcome.gate_wait else ''}"
                     f"{_discounted(skipped, where, outcome.trigger)}): "
                     f"measured {measured:.1f} s, rollouts plan {planned:g} s ({round(planned / interval)} ticks "
                     f"of {interval:g} s)")
        assert abs(measured - planned) <= interval, lines[-1]
    finally:
        report(outcome, lines)


def assert_rolled_back(outcome: Outcome, metric: str) -> None:
    interval = interval_of(outcome.canary)
    threshold = int(outcome.canary["spec"]["analysis"].get("threshold") or 1)
    lines = []
    try:
        assert outcome.phase == "Failed", f"{outcome.scenario.label}: ended {outcome.phase!r}"
        first, end = outcome.first_failed_check, outcome.end
        assert first is not None and end is not None
        skipped, where = skipped_ticks(outcome, first, end, interval)
        measured = end - first - skipped * interval
        assert outcome.plan is not None
        formula = outcome.plan.figure("time to rollback after the first failed check")
        assert formula == threshold * interval
        lines.append(f"first failed check {first - outcome.trigger:.1f} s after the release; rollback "
                     f"{measured:.1f} s after it{_discounted(skipped, where, outcome.trigger)}, rollouts plan "
                     f"{formula:g} s (threshold {threshold} x {interval:g} s)")
        halts = [w for w in outcome.warnings() if "Halt" in w]
        assert any(metric in w for w in halts), f"no failed check of {metric}: {halts[-5:]}"
        assert abs(measured - formula) <= interval, lines[-1]
    finally:
        report(outcome, lines)


def test_flagger_routes_at_the_rendered_parents(env: Env) -> None:
    """Flagger's HTTPRoute of each Canary hangs on the parents and hostnames the render gave it (gatewayRefs,
    service.hosts), where Gateway API splits the traffic."""
    def parents(refs: list[dict[str, Any]], namespace: str) -> set[tuple[str, str, str]]:
        return {(ref.get("kind", "Gateway"), ref.get("namespace", namespace), ref["name"]) for ref in refs}

    for (namespace, name), canary in env.canaries.items():
        route = json.loads(env.cluster.kubectl("get", "httproutes.gateway.networking.k8s.io", name, "-n",
                                               namespace, "-o", "json", check=True).stdout)
        wanted = parents(canary["spec"]["service"].get("gatewayRefs", []), namespace)
        assert wanted and parents(route["spec"]["parentRefs"], namespace) == wanted, (namespace, name)
        assert route["spec"].get("hostnames", []) == canary["spec"]["service"].get("hosts", []), (namespace, name)


def test_canary_healthy_zero_errors_is_promoted(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]
                                                ) -> None:
    assert_promoted(outcomes["checkout-production"][0].result())


def test_canary_p99_over_budget_rolls_back(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    assert_rolled_back(outcomes["checkout-production"][1].result(), "latency-p99")


def test_canary_30_percent_errors_rolls_back(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]
                                             ) -> None:
    assert_rolled_back(outcomes["checkout-staging"][0].result(), "success-rate")


def test_ab_healthy_is_promoted(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    assert_promoted(outcomes["frontend-production"][0].result())


def test_ab_30_percent_errors_rolls_back(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    assert_rolled_back(outcomes["frontend-staging"][0].result(), "success-rate")


def test_ab_latency_over_budget_rolls_back(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    assert_rolled_back(outcomes["frontend-production"][1].result(), "latency-p95")


def test_blue_green_30_percent_errors_rolls_back(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]
                                                 ) -> None:
    assert_rolled_back(outcomes["billing-staging"][1].result(), "success-rate")


def test_blue_green_p99_over_budget_rolls_back(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]
                                               ) -> None:
    assert_rolled_back(outcomes["billing-staging"][2].result(), "latency-p99")


def test_blue_green_healthy_is_promoted(outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    assert_promoted(outcomes["billing-staging"][0].result())


def test_blue_green_manual_approval_waits_and_closes(env: Env,
                                                     outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]
                                                     ) -> None:
    outcome = outcomes["billing-production"][0].result()
    assert_promoted(outcome)
    assert any(s.state.phase == "WaitingPromotion" for s in outcome.samples), "never waited for the approval"
    checks = [c for c in env.loadtester.calls("billing-worker", "billing") if c.path == "/gate/check"]
    assert checks and checks[0].status == 403, "promotion was not gated by /gate/check"
    # the gate must not stay open for the next release (the loadtester keeps gates open until closed)
    assert not env.loadtester.is_open("billing-worker", "billing"), \
        "the manual approval gate is still open after the rollout: the next release would be promoted unasked"


# -- the analysis controller in the loop: its image answers every Canary's webhooks --------------------------------

def evidence(env: Env) -> list[Any]:
    """Every decision of the controller's signed evidence chain, verified with its public key."""
    from rollouts.controller.evidence import verify_dir
    from rollouts.keys import load_public_key

    result = verify_dir(str(env.controller.data / "evidence"), load_public_key(str(env.controller.public_key)))
    assert result.ok, [f.message for f in result.findings]
    return result.decisions


def decisions(env: Env, outcome: Outcome, hook: str) -> list[Any]:
    """The controller's decisions on ``hook`` for this scenario's release, from its evidence."""
    environment = "staging" if outcome.scenario.namespace.endswith("-staging") else "production"
    end = outcome.end or time.time()

    def at(d: Any) -> float:
        return calendar.timegm(time.strptime(d.time[:19], "%Y-%m-%dT%H:%M:%S"))

    return [d for d in evidence(env) if d.service == outcome.scenario.name and d.environment == environment
            and d.hook == hook and outcome.trigger - 1 <= at(d) <= end + 1]


def phases(outcome: Outcome, before: float | None = None, after: float | None = None) -> set[str]:
    return {s.state.phase for s in outcome.samples
            if (before is None or s.at < before) and (after is None or s.at >= after)}


def test_a_closed_change_window_keeps_the_canary_waiting_until_it_opens(
        env: Env, outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    outcome = outcomes["frontend-staging"][0].result()
    assert outcome.acted is not None, f"never held Waiting for {HOLD} intervals: {phases(outcome)}"
    held = phases(outcome, before=outcome.acted)
    assert "Waiting" in held and "Progressing" not in held, held
    assert "Progressing" in phases(outcome, after=outcome.acted)
    denied = [d for d in decisions(env, outcome, "confirm-rollout") if d.decision == "deny"]
    assert len(denied) >= HOLD and all(d.reason.startswith("outside every change window") for d in denied), denied
    allowed = [d for d in decisions(env, outcome, "confirm-rollout") if d.decision == "allow"]
    assert allowed and "no change windows configured" in allowed[-1].reason  # reloaded without a restart
    assert any("waiting for approval change-policy" in w for w in outcome.warnings())


def test_a_spent_error_budget_keeps_the_canary_waiting_for_promotion_and_an_abort_rolls_it_back(
        env: Env, outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    outcome = outcomes["checkout-production"][2].result()
    interval = interval_of(outcome.canary)
    lines = []
    try:
        assert outcome.acted is not None, f"never waited for promotion for {HOLD} intervals: {phases(outcome)}"
        assert outcome.phase == "Failed", outcome.phase
        assert outcome.end is not None
        lines.append(f"aborted {outcome.acted - outcome.trigger:.1f} s after the release; rolled back "
                     f"{outcome.end - outcome.acted:.1f} s later (the next tick: at most {interval:g} s + one tick)")
        assert outcome.end - outcome.acted <= 2 * interval + 5, lines[-1]
        denied = [d for d in decisions(env, outcome, "confirm-promotion") if d.decision == "deny"]
        assert denied and all(d.reason.startswith("error budget") and "cannot be judged" not in d.reason
                              for d in denied), denied
        assert not [d for d in decisions(env, outcome, "confirm-promotion") if d.decision == "allow"]
        rollbacks = [d for d in decisions(env, outcome, "rollback") if d.decision == "allow"]
        assert rollbacks and "e2e: the error budget is spent" in rollbacks[0].reason, rollbacks
        assert any("Rolling back checkout.shop manual webhook invoked" in w for w in outcome.warnings())
    finally:
        report(outcome, lines)


def test_a_canary_failing_its_probes_rolls_back(env: Env,
                                                outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    outcome = outcomes["checkout-staging"][1].result()
    assert_rolled_back(outcome, "canary-checks")
    denied = [d for d in decisions(env, outcome, "rollout") if d.decision == "deny"]
    assert denied and all(d.reason.startswith("probe") for d in denied), denied
    assert env.probes.seen("shop-staging", "checkout", "primary"), "the primary was not probed beside the canary"


def test_a_healthy_canary_passes_every_gate_of_the_controller_and_each_decision_verifies(
        env: Env, outcomes: dict[str, list[concurrent.futures.Future[Outcome]]]) -> None:
    outcome = outcomes["checkout-production"][0].result()
    assert outcome.phase == "Succeeded"
    for hook in ("confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase", "confirm-promotion"):
        made = decisions(env, outcome, hook)
        assert made and all(d.decision == "allow" for d in made), (hook, made)
    rollbacks = decisions(env, outcome, "rollback")  # asked at every tick; no abort: denied, the rollout goes on
    assert rollbacks and all(d.decision == "deny" for d in rollbacks), rollbacks
    ok = [s for s in env.probes.seen("shop", "checkout", "canary") if s.status in (200, 201)]
    assert ok, "the canary was not probed"
