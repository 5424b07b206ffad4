"""The analysis controller's image, built on this machine by scripts/controller-image (a debootstrap base, the
wheels of the pinned requirements, ``rollouts controller build-context``, ``podman build``), run the way the rendered
StatefulSet runs it: its args and env, its volumes (the config ConfigMaps read-only, the signing-key Secret, the data
volume, an in-memory /tmp), user 65532, a read-only root filesystem, no capabilities, on the host network on a free
port. What the pod spec says is read from flux/infrastructure/progressive-delivery/analysis-controller/statefulset.yaml,
so a change there is tested here.

Needs podman, buildah, runc and debootstrap (bash .ci/setup --images) and root (debootstrap, podman's store).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.cluster import free_port
from tests.e2e.conftest import missing

ROOT = Path(__file__).resolve().parents[2]
STATEFULSET = ROOT / "flux/infrastructure/progressive-delivery/analysis-controller/statefulset.yaml"
TOOLS = ("podman", "buildah", "runc", "debootstrap")
PODMAN = ["podman", "--storage-driver", "vfs", "--runtime", "runc"]  # as scripts/controller-image runs it
CONTAINERS_CONF = '[containers]\ndefault_ulimits = []\n\n[engine]\ncgroup_manager = "cgroupfs"\n'
UID = 65532
EROFS = 30
POD = "analysis-controller-0"  # the StatefulSet's first pod: metadata.name for the env's fieldRef


@dataclass
class Image:
    id: str
    env: dict[str, str]  # CONTAINERS_CONF for every podman call


@dataclass
class Controller:
    url: str
    name: str
    data: Path  # the data volume (/var/lib/rollouts) on the host
    public_key: Path
    image: Image
    volumes: dict[str, str]  # the pod's volumes by name -> their host directories
    metrics_url: str  # the port of /metrics alone


def podman(image: Image, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*PODMAN, *args], env=image.env, capture_output=True, text=True, timeout=timeout,
                            check=False)
    if check and result.returncode != 0:
        pytest.fail(f"podman {' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """scripts/controller-image: cached, so warm it only checks the base's stamp and reuses podman's layers."""
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        missing(f"{', '.join(absent)} not installed (bash .ci/setup --images installs them)")
    if os.geteuid() != 0:
        missing("building the controller's image needs root (debootstrap; podman's vfs store)")
    conf = tmp_path_factory.mktemp("containers") / "containers.conf"
    conf.write_text(CONTAINERS_CONF, encoding="utf-8")
    env = {**os.environ, "CONTAINERS_CONF": str(conf), "ROLLOUTS_CONTAINERS_CONF": str(conf)}
    result = subprocess.run(["bash", str(ROOT / "scripts/controller-image")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=1800, check=False)
    assert result.returncode == 0, f"scripts/controller-image failed:\n{result.stderr[-4000:]}"
    image_id = result.stdout.strip().splitlines()[-1]
    assert len(image_id) == 64 and all(c in "0123456789abcdef" for c in image_id), result.stdout
    return Image(image_id, env)


def pod_container() -> tuple[dict[str, Any], dict[str, Any]]:
    """The StatefulSet's pod spec and its controller container, as rendered."""
    docs = [d for d in yaml.safe_load_all(STATEFULSET.read_text(encoding="utf-8")) if d]
    statefulset = next(d for d in docs if d["kind"] == "StatefulSet")
    pod = statefulset["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "controller")
    claims = {t["metadata"]["name"] for t in statefulset["spec"].get("volumeClaimTemplates", [])}
    pod = {**pod, "volumes": [*pod.get("volumes", []), *({"name": n, "claim": True} for n in sorted(claims))]}
    return pod, container


def config_doc(now: datetime) -> dict[str, Any]:
    return {"apiVersion": "rollouts.dev/v1alpha1", "kind": "AnalysisControllerConfig", "environment": "production",
            "prometheus": {"address": "http://127.0.0.1:9", "timeout": "1s"},
            "services": {
                "shop/checkout": {"service": "checkout", "freezes": [{
                    "start": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "end": "2099-01-04T00:00:00Z", "reason": "year-end freeze"}]},
                "shop/cart": {"service": "cart"}}}


def run_args(pod: dict[str, Any], container: dict[str, Any], volumes: dict[str, str],
             listen: str) -> tuple[list[str], list[str]]:
    """``podman run`` options and the container's args for the pod spec: each volume mount from the host directory
    in ``volumes`` (an emptyDir as a tmpfs), the env (fieldRef metadata.name as the first pod's name), the user,
    the container's securityContext."""
    by_name = {v["name"]: v for v in pod["volumes"]}
    options: list[str] = []
    for mount in container["volumeMounts"]:
        volume = by_name[mount["name"]]
        if "emptyDir" in volume:
            size = volume["emptyDir"].get("sizeLimit", "64Mi").replace("Mi", "m")
            options += ["--tmpfs", f"{mount['mountPath']}:rw,size={size},mode=1777"]
        else:
            mode = ":ro" if mount.get("readOnly") else ""
            options += ["-v", f"{volumes[mount['name']]}:{mount['mountPath']}{mode}"]
    for var in container.get("env", []):
        if "value" in var:
            options += ["-e", f"{var['name']}={var['value']}"]
        elif var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            options += ["-e", f"{var['name']}={POD}"]
        elif ref := var.get("valueFrom", {}).get("secretKeyRef"):  # from the Secret mounted as a volume
            volume = next(v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == ref["name"])
            value = (Path(volumes[volume["name"]]) / ref["key"]).read_text(encoding="utf-8")
            options += ["-e", f"{var['name']}={value}"]
        else:
            raise AssertionError(f"env {var['name']}: a source this test does not mirror")
    security, pod_security = container.get("securityContext", {}), pod.get("securityContext", {})
    options += ["--user", f"{pod_security['runAsUser']}:{pod_security['runAsGroup']}"]
    if security.get("readOnlyRootFilesystem"):
        options += ["--read-only", "--read-only-tmpfs=false"]  # no tmpfs of podman's own: only the pod's volumes
    if "ALL" in security.get("capabilities", {}).get("drop", []):
        options += ["--cap-drop", "ALL"]
    if security.get("allowPrivilegeEscalation") is False:
        options += ["--security-opt", "no-new-privileges"]
    args = list(container["args"])
    args[args.index("--listen") + 1] = listen  # host network: an address of its own on loopback
    host = listen.rpartition(":")[0]
    for option in ("--operator-listen", "--metrics-listen"):
        args[args.index(option) + 1] = f"{host}:{free_port(host)}"
    return [*options, "--network", "host"], args


@contextmanager
def started(image: Image, tmp_path: Path, configs: dict[str, str] | None = None, host: str = "127.0.0.1",
            port: int | None = None, hosts: Path | None = None, kubeconfig: Path | None = None
            ) -> Iterator[Controller]:
    """The controller from the image, as the StatefulSet's first pod, until the block ends; then removed.

    ``configs``: each environment's config.json (default: :func:`config_doc` for production); ``hosts``: the
    container's /etc/hosts (the in-cluster names it calls); ``kubeconfig``: the Kubernetes API of its operator
    state, in place of the pod's service account (a file readable by the pod's user)."""
    from rollouts.keys import write_key_pair

    pod, container = pod_container()
    volumes: dict[str, str] = {}
    for volume in pod["volumes"]:
        directory = tmp_path / volume["name"]
        directory.mkdir()
        volumes[volume["name"]] = str(directory)
        if volume.get("claim"):  # the PersistentVolumeClaim: writable by the pod's fsGroup
            os.chown(directory, UID, pod["securityContext"].get("fsGroup", UID))
    for env, text in (configs or {"production": json.dumps(config_doc(datetime.now(UTC)))}).items():
        (Path(volumes[f"config-{env}"]) / "config.json").write_text(text, encoding="utf-8")
    private, public = write_key_pair(str(tmp_path / "evidence"), b"")
    key = Path(volumes["signing-key"]) / "key"
    shutil.copyfile(private, key)
    os.chown(key, 0, pod["securityContext"]["fsGroup"])  # the Secret's defaultMode with the pod's fsGroup
    os.chmod(key, pod["volumes"][[v["name"] for v in pod["volumes"]].index("signing-key")]["secret"]["defaultMode"])
    (Path(volumes["signing-key"]) / "password").write_text("", encoding="utf-8")  # the key has no password
    port = port or free_port(host)
    name = f"rollouts-controller-test-{host.replace('.', '-')}-{port}"
    options, args = run_args(pod, container, volumes, f"{host}:{port}")
    if hosts is not None:
        options += ["--no-hosts", "-v", f"{hosts}:/etc/hosts:ro"]
    if kubeconfig is not None:
        options += ["-v", f"{kubeconfig.parent}:/etc/rollouts/kube:ro"]
        args += ["--kubeconfig", f"/etc/rollouts/kube/{kubeconfig.name}"]
    podman(image, "run", "-d", "--name", name, *options, image.id, *args, timeout=60)
    metrics = f"http://{args[args.index('--metrics-listen') + 1]}"
    controller = Controller(f"http://{host}:{port}", name, Path(volumes["data"]), Path(public), image, volumes,
                            metrics)
    try:
        wait_healthy(controller)
        yield controller
    finally:
        podman(image, "rm", "--force", "--time", "0", name, check=False)


def wait_healthy(controller: Controller, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{controller.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        state = podman(controller.image, "inspect", "--format", "{{.State.Status}}", controller.name, check=False)
        if state.stdout.strip() not in ("running", "created", "configured") or time.monotonic() > deadline:
            logs = podman(controller.image, "logs", controller.name, check=False)
            pytest.fail(f"the controller's container is {state.stdout.strip() or state.stderr.strip()}, "
                        f"not healthy:\n{logs.stdout[-2000:]}{logs.stderr[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def controller(image: Image, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Controller]:
    with started(image, tmp_path_factory.mktemp("pod")) as running:
        yield running


def flagger_payload(name: str, checksum: str = "6d8f9c7b5") -> bytes:
    """Flagger's CanaryWebhookPayload as CallWebhook marshals it (pkg/controller/webhook.go), without metadata."""
    return json.dumps({"name": name, "namespace": "shop", "phase": "Progressing", "checksum": checksum},
                      separators=(",", ":")).encode()


def confirm_rollout(controller: Controller, name: str, checksum: str = "6d8f9c7b5") -> httpx.Response:
    return httpx.post(f"{controller.url}/webhooks/confirm-rollout", content=flagger_payload(name, checksum),
                      headers={"Content-Type": "application/json"}, timeout=10)


def in_container(controller: Controller, code: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    return podman(controller.image, "exec", *(["--user", user] if user else []), controller.name,
                  "/opt/rollouts/bin/python", "-c", code, check=False)


def test_the_image_answers_liveness_and_readiness(controller: Controller) -> None:
    health = httpx.get(f"{controller.url}/healthz", timeout=5)
    ready = httpx.get(f"{controller.url}/readyz", timeout=5)
    assert (health.status_code, health.text) == (200, "ok")
    assert ready.status_code == 200, ready.text
    assert {k: ready.json()[k] for k in ("ready", "environments", "services", "stale")} == {
        "ready": True, "environments": ["production"], "services": 2, "stale": False}


def test_confirm_rollout_answers_as_the_mounted_config_says_and_records_signed_evidence(
        controller: Controller) -> None:
    from rollouts.controller.evidence import verify_dir
    from rollouts.keys import load_public_key

    frozen = confirm_rollout(controller, "checkout", "rev-1")
    unfrozen = confirm_rollout(controller, "cart", "rev-2")
    unknown = confirm_rollout(controller, "billing")
    assert frozen.status_code == 403
    assert frozen.text.startswith("change freeze until 2099-01-04T00:00:00Z (in ")
    assert frozen.text.endswith("): year-end freeze")
    # no service account in the container: the hold check cannot read the state and denies (fail closed)
    assert (unfrozen.status_code, unfrozen.text.split(":")[0]) == (403, "cannot read holds")
    assert (unknown.status_code, unknown.text) == (404, "no configuration for shop/billing in environment(s) "
                                                        "production")
    result = verify_dir(str(controller.data / "evidence"), load_public_key(str(controller.public_key)))
    assert result.ok, result.findings
    assert [(d.replica, d.service, d.decision, d.reason) for d in result.decisions] == [
        (POD, "checkout", "deny", frozen.text), (POD, "cart", "deny", unfrozen.text)]


def test_the_metrics_port_serves_the_metrics_alone(controller: Controller) -> None:
    """Prometheus scrapes a port of its own (the webhooks' port admits only Flagger's identity)."""
    scraped = httpx.get(f"{controller.metrics_url}/metrics", timeout=5)
    assert scraped.status_code == 200 and "rollouts_controller_decisions_total" in scraped.text
    webhook = httpx.post(f"{controller.metrics_url}/webhooks/confirm-rollout", content=flagger_payload("checkout"),
                         timeout=5)
    assert webhook.status_code == 404


def test_the_process_runs_as_65532_without_capabilities(controller: Controller) -> None:
    pid = podman(controller.image, "inspect", "--format", "{{.State.Pid}}", controller.name).stdout.strip()
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    assert status["Uid"].split() == [str(UID)] * 4
    assert status["Gid"].split() == [str(UID)] * 4
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0
    assert status["NoNewPrivs"].strip() == "1"
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1:4] == [
        b"/opt/rollouts/bin/rollouts", b"controller", b"serve"]


def test_the_root_filesystem_is_read_only_and_only_the_volumes_are_writable(controller: Controller) -> None:
    write = ("import errno, sys\n"
             "for path in sys.argv[1:] if len(sys.argv) > 1 else {paths!r}:\n"
             "    try:\n"
             "        open(path, 'w').close(); print(path, 'written')\n"
             "    except OSError as e:\n"
             "        print(path, errno.errorcode[e.errno])\n")
    outside = ["/opt/rollouts/x", "/etc/x", "/x", "/var/x"]
    inside = ["/tmp/x", "/var/lib/rollouts/x"]
    as_pod = in_container(controller, write.format(paths=outside + inside))
    as_root = in_container(controller, write.format(paths=outside), user="0")  # even root: the mount is read-only
    assert as_pod.returncode == 0 and as_root.returncode == 0, as_pod.stderr + as_root.stderr
    assert as_pod.stdout.splitlines() == [f"{p} EROFS" for p in outside] + [f"{p} written" for p in inside]
    assert as_root.stdout.splitlines() == [f"{p} EROFS" for p in outside]
    assert (controller.data / "x").stat().st_uid == UID  # the write landed on the data volume, as the pod's user


def test_the_image_holds_no_build_stage_and_stays_small(controller: Controller) -> None:
    found = in_container(controller, "import os; print([p for p in ('/build', '/root/.cache') if os.path.exists(p)])")
    assert found.stdout.strip() == "[]", found.stdout + found.stderr
    size = int(podman(controller.image, "image", "inspect", "--format", "{{.Size}}", controller.image.id).stdout)
    assert size < 450 * 1024 * 1024, f"the image is {size / 1024 / 1024:.0f} MiB"  # 352 MiB on 2026-12-03


def test_sigterm_stops_the_container_gracefully(image: Image, tmp_path: Path) -> None:
    with started(image, tmp_path) as controller:
        assert confirm_rollout(controller, "checkout").status_code == 403
        began = time.monotonic()
        podman(image, "kill", "--signal", "TERM", controller.name)
        code = podman(image, "wait", controller.name, timeout=30).stdout.strip()
        took = time.monotonic() - began
        logs = podman(image, "logs", controller.name, check=False)
    # uvicorn stops accepting, finishes what is in flight, runs the app's shutdown, then ends by the signal
    assert took < 10, f"SIGTERM took {took:.1f}s"
    assert "Application shutdown complete." in logs.stderr, logs.stderr[-2000:]
    # as PID 1 the re-raised SIGTERM finds no handler and is dropped (the kernel spares init), so Python ends with 0
    assert code == "0", f"exit status {code}: {logs.stderr[-2000:]}"
