"""Real Flagger driving the rendered Canaries, as plain functions and one context manager (``rollout_env``): what
the Flagger suite (test_flagger.py) and the lab (lab.py, ``make demo-*``) both run.

On a running control plane (cluster.py) with the CRDs installed, ``rollout_env`` starts:

- the linkerd-viz Prometheus (``prometheus.linkerd-viz:9090``) scraping a fake of the Linkerd proxies
  (``fake_linkerd_proxy.FakeLinkerdProxy``), and an app Prometheus (``prometheus.monitoring:9090``) scraping the
  pods' own metrics (``AppMetrics``); each on its own loopback address, port 9090, as rendered;
- a fake of Flagger's loadtester on ``flagger-loadtester.flagger-system:80`` (``fake_loadtester``), whose helm
  tasks are refused unless the loadtester's ServiceAccount may run ``helm test`` there (asked of the API server);
- the analysis controller (``analysis-controller.flagger-system:8080``), started by the caller's function (the
  suite runs its image with podman, the lab ``rollouts controller serve`` from the venv), with the rendered config
  of each environment, a token of its rendered ServiceAccount and an /etc/hosts of its own: the mesh Prometheus and
  the probed services' canary and primary names mapped to a test app of their journeys (``probe_app.ProbeApp``);
- Flagger, out of cluster in its own mount namespace whose /etc/hosts maps those in-cluster names to the loopback
  addresses (``Addresses``: a /24 of 127.0.0.0/8 each, so several environments can run side by side);
- the rendered objects of the chosen services, and the Deployment and Service the chart would create (labels
  matching the rendered selectors); it yields once every Canary is Initialized, and on the way out deletes what it
  applied (the Canaries first, while Flagger still runs) and stops what it started.

``run(env, scenario)`` then triggers a release whose pods behave as the scenario says (error rate, latency, probes,
an operator's actions) and follows it to its end, as an ``Outcome`` with the Canary's timeline and events.
"""

from __future__ import annotations

import base64
import calendar
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
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml
from rollouts.lint import load_and_lint
from rollouts.project import load_project
from rollouts.render.model import namespace_for
from rollouts.render.plan import Plan, plan
from rollouts.spec.resolve import environments, resolve
from ruamel.yaml import YAML

from tests.e2e.cluster import Cluster, Process, free_port, wait_for
from tests.e2e.fake_linkerd_proxy import AppMetrics, FakeLinkerdProxy
from tests.e2e.fake_loadtester import FakeLoadtester
from tests.e2e.probe_app import ProbeApp
from tests.e2e.timeline import REPORT, CanaryWatch, Sample, render_timeline
from tests.e2e.tree import Rendered, seconds

CONTROLLER_PORT = 8080
LOADTESTER_SA = "system:serviceaccount:flagger-system:flagger-loadtester"
# what `helm test` does in the release's namespace (helm pkg/action/release_testing.go): find the last release
# (Secrets driver: list), run the test hook pods and wait for them (create, get, list, watch), delete them by
# hook-delete-policy, record the result on the release (update)
HELM_TEST_NEEDS = (("list", "secrets"), ("update", "secrets"), ("create", "pods"), ("get", "pods"), ("list", "pods"),
                   ("watch", "pods"), ("delete", "pods"))
ROLLOUTS = str(Path(sys.executable).parent / "rollouts")
TERMINAL = ("Succeeded", "Failed")
RBAC = "infrastructure/progressive-delivery/analysis-controller/rbac.yaml"
HOLD = 2  # intervals a scenario waits in Waiting or WaitingPromotion before its operator acts


def names(service: str, namespace: str) -> list[str]:
    base = f"{service}.{namespace}"
    return [base, f"{base}.svc", f"{base}.svc.cluster.local"]


@dataclass(frozen=True)
class Addresses:
    """Where the in-cluster names the rendered tree calls are served: one loopback address each, in ``block``."""

    block: str = "127.0.0"

    @property
    def mesh_prometheus(self) -> str:  # prometheus.linkerd-viz
        return f"{self.block}.2"

    @property
    def app_prometheus(self) -> str:  # prometheus.monitoring
        return f"{self.block}.3"

    @property
    def loadtester(self) -> str:  # flagger-loadtester.flagger-system
        return f"{self.block}.4"

    @property
    def controller(self) -> str:  # analysis-controller.flagger-system, port 8080 as rendered
        return f"{self.block}.5"

    @property
    def probed(self) -> str:  # <service>-canary.<namespace>, <service>-primary.<namespace>: the probe app
        return f"{self.block}.6"

    def hosts(self) -> dict[str, str]:
        out = dict.fromkeys(names("prometheus", "linkerd-viz"), self.mesh_prometheus)
        out |= dict.fromkeys(names("prometheus", "monitoring"), self.app_prometheus)
        out |= dict.fromkeys(names("flagger-loadtester", "flagger-system"), self.loadtester)
        out |= dict.fromkeys(names("analysis-controller", "flagger-system"), self.controller)
        return out


class RunningController(Protocol):
    """What the suite and the lab need of a running analysis controller."""

    url: str
    data: Path  # its data volume: evidence/, outbox/
    public_key: Path  # verifies its evidence
    volumes: dict[str, str]  # the pod's volumes by name (config-<environment>, ...) -> their host directories


# (scratch directory, each environment's config.json, host, port, its /etc/hosts, its kubeconfig) -> the controller
StartController = Callable[[Path, dict[str, str], str, int, Path, Path], AbstractContextManager[RunningController]]


@dataclass
class Env:
    cluster: Cluster
    rendered: Rendered
    proxy: FakeLinkerdProxy
    app: AppMetrics
    loadtester: FakeLoadtester
    watch: CanaryWatch
    probes: ProbeApp
    controller: RunningController
    admin: Path  # the test's own kubeconfig (an operator's, for rollouts hold/abort)
    addresses: Addresses = field(default_factory=Addresses)
    canaries: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (namespace, name) -> Canary
    images: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # -> (repository, tag)
    plans: dict[tuple[str, str], Plan] = field(default_factory=dict)  # -> `rollouts plan` of the specs
    objects: list[dict[str, Any]] = field(default_factory=list)  # every rendered object applied


# -- the parts ------------------------------------------------------------------------------------------------


def apply_crds(cluster: Cluster, shared: Path) -> None:
    """Every CRD of ``shared``/crds, server-side applied, and Established (as the suite's ``crds`` fixture)."""
    result = cluster.kubectl("apply", "--server-side", "--force-conflicts", "-R", "-f", str(shared / "crds"),
                             timeout=300)
    if result.returncode != 0:
        raise AssertionError(f"CRDs of {shared / 'crds'} refused:\n{result.stderr}")
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s", check=True,
                    timeout=150)


def prometheus(cluster: Cluster, name: str, host: str, target: str) -> Process:
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


def helm_rbac(cluster: Cluster) -> Callable[[dict[str, str]], str | None]:
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


def flagger_flags(rendered: Rendered) -> list[str]:
    release = next(obj for _, _, obj in rendered.objects("infrastructure")
                   if obj["kind"] == "HelmRelease" and obj["metadata"]["name"] == "flagger")
    values = release["spec"].get("values") or {}
    return [f"-mesh-provider={values['meshProvider']}", f"-metrics-server={values['metricsServer']}"]


def check_hosts(objects: list[dict[str, Any]], hosts: dict[str, str]) -> None:
    """Every address a rendered MetricTemplate or webhook calls must be one the environment serves."""
    used = set()
    for obj in objects:
        if obj["kind"] == "MetricTemplate":
            used.add(obj["spec"]["provider"]["address"])
        if obj["kind"] == "Canary":
            used |= {hook["url"] for hook in obj["spec"]["analysis"].get("webhooks", [])}
    unknown = sorted(u for u in used if urllib.parse.urlsplit(u).hostname not in hosts)
    assert not unknown, f"rendered URLs the environment does not serve: {unknown}"


def workload(canary: dict[str, Any], image: tuple[str, str]) -> str:
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


def set_change_windows(project: Path, closed: dict[tuple[str, str], dict[str, Any]] | None = None) -> Path:
    """The example specs' own change windows dropped (they would open and close with the time of day a run starts
    at); ``closed`` gives (service, environment) a window of its own."""
    rt = YAML()
    for spec in sorted((project / "services").glob("*/rollouts.yaml")):
        data = rt.load(spec.read_text(encoding="utf-8"))
        (data["spec"].get("policy") or {}).pop("changeWindows", None)
        for (service, environment), window in (closed or {}).items():
            if data["metadata"]["name"] == service:
                data["spec"]["environments"][environment]["policy"] = {"changeWindows": [window]}
        with spec.open("w", encoding="utf-8") as fh:
            rt.dump(data, fh)
    return project


def controller_configs(rendered: Rendered) -> dict[str, str]:
    """Each environment's config.json, from the rendered ConfigMaps (what the pod mounts)."""
    out = {}
    for _, _, obj in rendered.objects("apps"):
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].startswith("analysis-controller-"):
            out[obj["metadata"]["labels"]["rollouts.dev/environment"]] = obj["data"]["config.json"]
    assert out, "no analysis controller config rendered"
    return out


def controller_kubeconfig(cluster: Cluster, rendered: Rendered, directory: Path) -> Path:
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


def plans(project: Path) -> dict[tuple[str, str], Plan]:
    """The product's plan (rollouts plan) of every service and environment of the project's specs, by Canary."""
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


def selected(rendered: Rendered, services: Collection[tuple[str, str]] | None) -> list[dict[str, Any]]:
    """The rendered apps objects of ``services`` ((environment, service); None: all), with their Namespaces."""
    if services is None:
        return [obj for _, _, obj in rendered.objects("apps")]
    chosen = [obj for environment, service in sorted(services)
              for _, _, obj in rendered.objects(f"apps/{environment}/{service}")]
    used = {obj["metadata"].get("namespace") for obj in chosen}
    namespaces = [obj for _, _, obj in rendered.objects("apps")
                  if obj["kind"] == "Namespace" and obj["metadata"]["name"] in used]
    return namespaces + chosen


def remove(cluster: Cluster, applied: list[str]) -> None:
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


@contextlib.contextmanager
def rollout_env(cluster: Cluster, rendered: Rendered, project: Path, scratch: Path,
                start_controller: StartController, addresses: Addresses | None = None,
                services: Collection[tuple[str, str]] | None = None) -> Iterator[Env]:
    """Flagger, the Prometheus servers, the fakes and the controller for the rendered ``services`` ((environment,
    service); None: every one), until every Canary is Initialized; yields, then removes and stops all of it."""
    addresses = addresses or Addresses()
    flagger = cluster.bin("flagger")
    cluster.bin("prometheus")
    scratch.mkdir(parents=True, exist_ok=True)
    proxy, app = FakeLinkerdProxy(), AppMetrics()
    proxy.start()
    app.start()
    loadtester = FakeLoadtester(addresses.loadtester, 80, helm_check=helm_rbac(cluster)).start()
    watch = CanaryWatch(cluster)
    started_processes: list[Process] = []
    applied: list[str] = []  # what was applied, workloads first, the Canaries last
    with contextlib.ExitStack() as stack:
        try:
            objects = selected(rendered, services)
            canaries = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects
                        if o["kind"] == "Canary"}
            probed = {key: c for key, c in canaries.items()
                      if any(w["type"] == "rollout" and w["url"].startswith("http://analysis-controller.")
                             for w in c["spec"]["analysis"].get("webhooks", []))}
            probes = ProbeApp(addresses.probed,
                              tuple(sorted({int(c["spec"]["service"]["port"]) for c in probed.values()})))
            stack.callback(probes.start().stop)
            # the controller's own view of the cluster: the mesh Prometheus, and the services it probes
            inside = dict.fromkeys(names("prometheus", "linkerd-viz"), addresses.mesh_prometheus)
            for namespace, name in probed:
                for track in ("canary", "primary"):
                    inside |= dict.fromkeys(names(f"{name}-{track}", namespace), addresses.probed)
            kubeconfig = controller_kubeconfig(cluster, rendered, scratch / "kube")
            (scratch / "pod").mkdir()
            controller = stack.enter_context(start_controller(
                scratch / "pod", controller_configs(rendered), addresses.controller, CONTROLLER_PORT,
                cluster.hosts_file(inside, "hosts-controller"), kubeconfig))
            env = Env(cluster, rendered, proxy, app, loadtester, watch, probes, controller, cluster.kubeconfig,
                      addresses, objects=objects)
            env.canaries.update(canaries)
            env.plans.update(plans(project))
            started_processes.append(prometheus(cluster, "prometheus-linkerd-viz", addresses.mesh_prometheus,
                                                proxy.target))
            started_processes.append(prometheus(cluster, "prometheus-monitoring", addresses.app_prometheus,
                                                app.target))
            for obj in objects:
                if obj["kind"] == "HelmRelease":
                    image_values = (obj["spec"].get("values") or {}).get("image") or {}
                    env.images[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = (
                        image_values["repository"], str(image_values["tag"]))
            hosts = addresses.hosts()
            for namespace, name in env.canaries:
                hosts |= dict.fromkeys(names(f"{name}-canary", namespace), "127.0.0.1")
            check_hosts(objects, hosts)
            namespaces = [obj for obj in objects if obj["kind"] == "Namespace"]
            cluster.apply(yaml.safe_dump_all(namespaces))
            # every object of the services (Canary, MetricTemplates, HPA, PDB, policy, routes, alerts, release...)
            applied.append(yaml.safe_dump_all([o for o in objects if o["kind"] not in ("Namespace", "Canary")]))
            applied.append(yaml.safe_dump_all(list(env.canaries.values())))
            for stream in applied:
                cluster.apply(stream, "--force-conflicts")
            for key, canary in env.canaries.items():
                applied.insert(0, workload(canary, env.images[key]))
                cluster.apply(applied[0])
                proxy.set(key[0], f"{key[1]}-primary")  # the primary serves healthy traffic throughout
            argv = [flagger, f"-kubeconfig={cluster.kubeconfig}", *flagger_flags(rendered), f"-port={free_port()}",
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
            remove(cluster, applied)
            cluster.stop(*started_processes)  # the rest of the session (the Flux suite) runs without them
            loadtester.stop()
            proxy.stop()
            app.stop()


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


def events(cluster: Cluster, namespace: str, name: str, since: float) -> list[tuple[float, str, str]]:
    """(time, type, message) of the Canary's events stamped since ``since`` (to the second)."""
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


def since(history: list[Sample], phase: str) -> float | None:
    """When the Canary entered ``phase`` for the last time (it is in it now), else None."""
    if not history or history[-1].state.phase != phase:
        return None
    at = history[-1].at
    for sample in reversed(history):
        if sample.state.phase != phase:
            break
        at = sample.at
    return at


# called about once a second while a release runs: (its trigger time, the Canary's changes since, the notes so far)
Progress = Callable[[float, list[Sample], list[tuple[float, str]]], None]


def run(env: Env, scenario: Scenario, timeout: float = 600, progress: Progress | None = None) -> Outcome:
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
            if progress is not None:
                progress(trigger, history, notes)
            seen_progress = any(s.state.phase == "Progressing" for s in history)
            state = history[-1].state if history else None
            if state and state.phase == "WaitingPromotion" and scenario.open_gate and waiting_since is None:
                waiting_since = history[-1].at
                time.sleep(interval)  # the operator takes a moment
                status = env.loadtester.open_gate(scenario.name, scenario.namespace)
                # promotion comes at the first tick after the gate opens: whole intervals spent waiting
                gate_wait = math.ceil((time.time() - waiting_since) / interval) * interval
                notes.append((time.time(), f"operator: POST /gate/open -> {status}"))
            waiting = since(history, "Waiting")
            if scenario.window_closed and acted is None and waiting and time.time() - waiting >= HOLD * interval:
                open_window(env, *key)
                acted = time.time()
                notes.append((acted, "the change window opens (the controller's config without it)"))
            analysed = any(s.state.weight > 0 or s.state.iterations > 0 for s in history)  # pre-rollout passed
            if scenario.burn_budget and analysed and not burning:
                env.proxy.set(scenario.namespace, f"{scenario.name}-primary", errors=0.5)
                burning = True
                notes.append((time.time(), "the primary fails 50% of its requests"))
            promoting = since(history, "WaitingPromotion")
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
    if progress is not None:
        progress(trigger, samples, notes)
    return Outcome(scenario, canary, trigger, samples, notes, events(cluster, *key, trigger), gate_wait, acted,
                   env.plans[key])


def report(outcome: Outcome, lines: list[str]) -> None:
    """The outcome's timeline, its events and ``lines``, for the suite's summary (conftest.pytest_terminal_summary)."""
    found = [(at, f"event {kind}: {message}") for at, kind, message in outcome.events]
    block = render_timeline(f"{outcome.scenario.label}: {outcome.scenario.namespace}/{outcome.scenario.name}",
                            outcome.trigger, outcome.samples, outcome.notes + found)
    REPORT.append(block + "\n" + "\n".join(f"  {line}" for line in lines))
