"""Flux's source-controller and kustomize-controller (and, when asked, helm-controller), run out of cluster against
the e2e control plane.

Each controller is started with ``setsid`` semantics (its own session and process group), its PID written to
``<workdir>/flux/<name>.pid`` and its log to ``<workdir>/flux/<name>.log``; ``stop()`` ends exactly those process
groups. Every port (storage, metrics, health) is a free one on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tests.e2e.cluster import free_port

NAMESPACE = "flux-system"
# Every kind the rendered apps and bootstrap paths contain must have its CRD, or kustomize-controller's apply fails.
CRD_DIRS = ("flux", "flagger", "gateway-api", "linkerd", "cert-manager", "prometheus-operator")


def crd_files(shared: str) -> list[str]:
    """The CRD manifests (top level of each directory, not Linkerd's helm templates) the Flux suite installs."""
    files: list[str] = []
    for name in CRD_DIRS:
        files += sorted(glob.glob(os.path.join(shared, "crds", name, "*.yaml")))
    return files


@dataclass
class Controller:
    name: str
    process: subprocess.Popen[bytes]
    log: str
    health: int

    def tail(self, lines: int = 30) -> str:
        with open(self.log, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])


class FluxControllers:
    """``start()`` runs the controllers and waits until they are ready; ``stop()`` ends them by PID."""

    def __init__(self, bin_path: Callable[[str], str], kubeconfig: str, workdir: str,
                 requeue_dependency: str = "5s", helm: bool = False) -> None:
        self.bin_path = bin_path
        self.helm = helm
        self.kubeconfig = kubeconfig
        self.dir = os.path.join(workdir, "flux")
        self.requeue_dependency = requeue_dependency
        self.storage_port = free_port()
        self.controllers: list[Controller] = []

    def _spawn(self, name: str, args: Sequence[str]) -> Controller:
        health = free_port()
        log = os.path.join(self.dir, f"{name}.log")
        env = {**os.environ, "KUBECONFIG": self.kubeconfig, "RUNTIME_NAMESPACE": NAMESPACE}
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [self.bin_path(name), *args, f"--metrics-addr=127.0.0.1:{free_port()}",
                 f"--health-addr=127.0.0.1:{health}", "--enable-leader-election=false", "--watch-all-namespaces"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.dir,
                start_new_session=True)
        with open(os.path.join(self.dir, f"{name}.pid"), "w", encoding="utf-8") as fh:
            fh.write(f"{process.pid}\n")
        controller = Controller(name, process, log, health)
        self.controllers.append(controller)
        return controller

    def start(self, timeout: float = 60) -> FluxControllers:
        os.makedirs(self.dir, exist_ok=True)
        storage = os.path.join(self.dir, "storage")
        os.makedirs(storage, exist_ok=True)
        addr = f"127.0.0.1:{self.storage_port}"
        self._spawn("source-controller", [f"--storage-path={storage}", f"--storage-addr={addr}",
                                          f"--storage-adv-addr={addr}",
                                          f"--requeue-dependency={self.requeue_dependency}"])
        self._spawn("kustomize-controller", ["--no-remote-bases=true",
                                             f"--requeue-dependency={self.requeue_dependency}"])
        if self.helm:
            self._spawn("helm-controller", [f"--requeue-dependency={self.requeue_dependency}"])
        deadline = time.monotonic() + timeout
        for controller in self.controllers:
            while not _ready(controller.health):
                if controller.process.poll() is not None:
                    raise RuntimeError(f"{controller.name} exited {controller.process.returncode}:\n"
                                       f"{controller.tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{controller.name} not ready after {timeout:.0f} s:\n{controller.tail()}")
                time.sleep(0.3)
        return self

    def stop(self) -> None:
        for controller in self.controllers:
            if controller.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(controller.process.pid, signal.SIGTERM)
        for controller in self.controllers:
            try:
                controller.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(controller.process.pid, signal.SIGKILL)
                controller.process.wait(timeout=15)
        self.controllers.clear()

    def logs(self, lines: int = 30) -> str:
        return "\n".join(f"--- {c.name} ({c.log})\n{c.tail(lines)}" for c in self.controllers)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return int(response.status) == 200
    except OSError:
        return False


# --- the API server -------------------------------------------------------------------------------------------------

class Kubectl:
    """kubectl on the e2e control plane through ``run`` (the cluster fixture's ``kubectl``, which returns the
    CompletedProcess); a failure raises with kubectl's own message."""

    def __init__(self, run: Callable[..., subprocess.CompletedProcess[str]]) -> None:
        self.run = run

    def __call__(self, *args: str, input: str | None = None) -> str:
        out = self.run(*args, input=input)
        if out.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()}")
        return str(out.stdout)

    def get(self, *args: str) -> dict[str, Any] | None:
        """``kubectl get ... -o json``; None when the object does not exist."""
        text = self("get", *args, "-o", "json", "--ignore-not-found")
        return json.loads(text) if text.strip() else None

    def apply(self, *objects: dict[str, Any]) -> None:
        """Server-side apply, as Flux and the other e2e suites do."""
        self("apply", "--server-side", "--force-conflicts", "--field-manager=e2e", "-f", "-",
             input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))

    def reconcile(self, kind: str, name: str, namespace: str = NAMESPACE) -> str:
        """What ``flux reconcile`` does: set ``reconcile.fluxcd.io/requestedAt``; returns the token, which the
        controller copies into ``status.lastHandledReconcileAt`` once it has handled the request."""
        token = f"{time.time():.6f}"
        self("-n", namespace, "annotate", "--overwrite", kind, name, f"reconcile.fluxcd.io/requestedAt={token}")
        return token


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    """The status condition of ``kind`` (Ready, SourceVerified, ...), or {} when there is none."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 90, details: Callable[[], str] | None = None,
             interval: float = 0.5) -> Any:
    """Poll ``probe`` until it returns something truthy; on timeout fail with ``details()``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}"
                                 + (f"\n{details()}" if details else ""))
        time.sleep(interval)
