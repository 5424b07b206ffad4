"""Holds, approvals and aborts kept in a ConfigMap of a real kube-apiserver: the checks Flagger's webhooks run, the
``rollouts hold|release|approve|abort`` commands, the operator HTTP endpoints (TokenReview + SubjectAccessReview),
two replicas, concurrent writers, and the API server stopped (deny with the reason) and restarted (state kept).

Only etcd and kube-apiserver are started (the state needs nothing else), with cluster.py's PKI and process helpers.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from rollouts.commands.operator import COMMANDS
from rollouts.controller import kube
from rollouts.controller.decision import Call, HookType, Verdict
from rollouts.controller.state import (
    StateStore,
    check_abort,
    check_approval,
    check_completion,
    check_hold,
    configmap_name,
)

from tests.controller.controller_server import config_doc
from tests.e2e.cluster import Cluster, Process, find_bin, free_port, kubeconfig_text, make_pki, new_workdir, wait_for
from tests.e2e.conftest import missing

NOW = datetime.datetime(2026, 12, 3, 10, 0, tzinfo=datetime.UTC)
ENV = "production"


class ControlPlane:
    """etcd + kube-apiserver; ``restart_apiserver`` brings the API server back on the same port and data."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.etcd_port = free_port()
        self.apiserver: Process | None = None

    @property
    def kubeconfig(self) -> str:
        return str(self.cluster.kubeconfig)

    def up(self) -> None:
        pki = self.cluster.workdir / "pki"
        make_pki(pki)
        peer = free_port()
        self.cluster.api_port = free_port()
        self.cluster.start("etcd", [Cluster.bin("etcd"), "--name=state", f"--data-dir={self.cluster.workdir / 'etcd'}",
                                    f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
                                    f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
                                    f"--listen-peer-urls=http://127.0.0.1:{peer}",
                                    f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                                    f"--initial-cluster=state=http://127.0.0.1:{peer}", "--unsafe-no-fsync=true",
                                    "--log-level=warn"])
        self.cluster.kubeconfig.write_text(kubeconfig_text(self.cluster.server, pki), encoding="utf-8")
        self.start_apiserver()

    def start_apiserver(self) -> None:
        pki = self.cluster.workdir / "pki"
        self.apiserver = self.cluster.start("kube-apiserver", [
            Cluster.bin("kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.cluster.api_port}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}", f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/16", "--authorization-mode=RBAC",
            "--endpoint-reconciler-type=none", "--v=0"])
        wait_for("kube-apiserver /readyz", self._ready, timeout=120)

    def stop_apiserver(self) -> None:
        assert self.apiserver is not None
        self.cluster.stop(self.apiserver)
        self.apiserver = None

    def _ready(self) -> bool:
        self.cluster.check_alive()
        return self.cluster.kubectl("get", "--raw", "/readyz", timeout=10).returncode == 0


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    absent = [name for name in ("etcd", "kube-apiserver", "kubectl") if find_bin(name) is None]
    if absent:
        missing(f"e2e binaries missing: {', '.join(absent)} (run scripts/e2e-build)")
    cluster = Cluster(new_workdir())
    plane = ControlPlane(cluster)
    try:
        plane.up()
        cluster.kubectl("create", "namespace", "flagger-system", check=True)
        yield plane
    finally:
        cluster.stop()
        shutil.rmtree(cluster.workdir / "etcd", ignore_errors=True)
        print(f"\ncontroller-state scratch directory (logs): {cluster.workdir}")


def creds(plane: ControlPlane) -> kube.Credentials:
    return kube.from_kubeconfig(plane.kubeconfig)


def call(hook: HookType, canary: str = "shop/checkout", checksum: str = "rev-a", phase: str = "Progressing",
         **service: Any) -> Call:
    namespace, name = canary.split("/")
    return Call(hook=hook, namespace=namespace, name=name, phase=phase, checksum=checksum, metadata={},
                service={"service": name, **service}, environment=ENV, now=NOW)


def promotion(checksum: str) -> Call:
    """confirm-promotion of a service whose spec asks for manual approval."""
    return call("confirm-promotion", checksum=checksum, approval={"required": True})


def decide(plane: ControlPlane, *checks: tuple[Any, Call]) -> list[Verdict]:
    """Run checks against a fresh store (a replica that has seen nothing)."""

    async def run() -> list[Verdict]:
        store = StateStore.connect(creds(plane), timeout=3)
        try:
            return [await check(c, store) for check, c in checks]
        finally:
            await store.aclose()

    return asyncio.run(run())


def cli(plane: ControlPlane, action: str, *args: str) -> Any:
    return CliRunner().invoke(COMMANDS[action], [*args, "--env", ENV, "--kubeconfig", plane.kubeconfig])


def configmap_data(plane: ControlPlane) -> dict[str, Any]:
    out = plane.cluster.kubectl("get", "configmap", "-n", "flagger-system", configmap_name(ENV), "-o", "json",
                                check=True).stdout
    return {k: json.loads(v) for k, v in (json.loads(out).get("data") or {}).items()}


# -- holds ----------------------------------------------------------------------------------------------------

def test_a_hold_denies_confirm_rollout_with_its_reason_until_released(plane: ControlPlane) -> None:
    held = cli(plane, "hold", "shop/checkout", "--reason", "incident 42")
    assert held.exit_code == 0, held.output + repr(held.exception)
    assert held.output == "held shop/checkout in production: incident 42\n"
    [rollout, traffic, promotion] = decide(plane, (check_hold, call("confirm-rollout")),
                                           (check_hold, call("confirm-traffic-increase")),
                                           (check_hold, call("confirm-promotion")))
    assert not rollout.allow and not traffic.allow and not promotion.allow
    assert rollout.reason.startswith("held by admin at ") and rollout.reason.endswith(": incident 42")
    assert configmap_data(plane)["shop.checkout"]["hold"]["by"] == "admin"  # the API server's name for the user

    released = cli(plane, "release", "shop/checkout")
    assert released.exit_code == 0 and released.output == "released shop/checkout in production\n"
    [after] = decide(plane, (check_hold, call("confirm-rollout")))
    assert (after.allow, after.reason) == (True, "not held")


# -- approvals ------------------------------------------------------------------------------------------------

def test_an_approval_is_for_one_revision_and_consumed_when_it_completes(plane: ControlPlane) -> None:
    [waiting] = decide(plane, (check_approval, promotion("rev-a")))
    assert not waiting.allow and "revision rev-a of shop/checkout waits for approval" in waiting.reason

    approved = cli(plane, "approve", "shop/checkout", "--reason", "QA signed off")  # no --checksum: the waiting one
    assert approved.exit_code == 0, repr(approved.exception)
    assert approved.output == "approved revision rev-a of shop/checkout in production: QA signed off\n"

    a, b = decide(plane, (check_approval, promotion("rev-a")),
                  (check_approval, promotion("rev-b")))
    assert a.allow and a.reason.startswith("revision rev-a approved by admin at ")
    assert not b.allow and "rev-b" in b.reason

    [done] = decide(plane, (check_completion, call("post-rollout", checksum="rev-a", phase="Succeeded")))
    assert done.allow
    [again] = decide(plane, (check_approval, promotion("rev-a")))
    assert not again.allow  # consumed: the same revision coming back (a revert) needs a new approval
    assert configmap_data(plane)["shop.checkout"]["approvals"] == []


def test_approve_with_nothing_waiting_says_so(plane: ControlPlane) -> None:
    result = cli(plane, "approve", "shop/nothing-waits")
    assert result.exit_code == 1
    assert "no revision of shop/nothing-waits is waiting for approval in production" in str(result.exception)


def test_an_event_of_a_failed_revision_also_consumes_its_approval(plane: ControlPlane) -> None:
    assert cli(plane, "approve", "shop/cart", "--checksum", "rev-c").exit_code == 0
    [done] = decide(plane, (check_completion, call("event", canary="shop/cart", checksum="rev-c", phase="Failed")))
    assert done.allow
    assert "shop.cart" not in configmap_data(plane)  # nothing left: the key goes


# -- aborts ---------------------------------------------------------------------------------------------------

def test_an_abort_makes_the_rollback_hook_pass_until_the_rollout_failed(plane: ControlPlane) -> None:
    [before] = decide(plane, (check_abort, call("rollback", canary="shop/search")))
    assert (before.allow, before.reason) == (False, "no abort requested")
    aborted = cli(plane, "abort", "shop/search", "--reason", "error spike")
    assert aborted.output == "abort requested for shop/search in production: error spike\n"
    [now] = decide(plane, (check_abort, call("rollback", canary="shop/search")))
    assert now.allow and now.reason.endswith(": error spike")  # 200: Flagger rolls back at this tick

    decide(plane, (check_completion, call("event", canary="shop/search", phase="Failed")))
    [after] = decide(plane, (check_abort, call("rollback", canary="shop/search")))
    assert not after.allow


def test_an_abort_for_one_revision_does_not_stop_another(plane: ControlPlane) -> None:
    assert cli(plane, "abort", "shop/pay", "--checksum", "rev-x").exit_code == 0
    x, y = decide(plane, (check_abort, call("rollback", canary="shop/pay", checksum="rev-x")),
                  (check_abort, call("rollback", canary="shop/pay", checksum="rev-y")))
    assert x.allow and not y.allow


# -- replicas and concurrency ---------------------------------------------------------------------------------

def test_two_replicas_see_each_others_writes(plane: ControlPlane) -> None:
    async def run() -> tuple[bool, bool]:
        one, two = StateStore.connect(creds(plane)), StateStore.connect(creds(plane))
        try:
            await one.hold(ENV, "shop/replicas", "from one", "replica-1")
            seen = (await two.get(ENV, "shop/replicas")).hold
            await two.release(ENV, "shop/replicas", "replica-2")
            gone = (await one.get(ENV, "shop/replicas")).hold
            return seen is not None and seen.reason == "from one", gone is None
        finally:
            await one.aclose()
            await two.aclose()

    assert asyncio.run(run()) == (True, True)


def test_concurrent_writers_lose_no_write(plane: ControlPlane) -> None:
    environment = "concurrent"  # a ConfigMap that does not exist yet: the writers also race to create it

    async def run() -> int:
        stores = [StateStore.connect(creds(plane)) for _ in range(4)]
        try:
            await asyncio.gather(*(stores[i % 4].approve(environment, f"shop/svc-{i}", "go", f"ci-{i}", f"rev-{i}")
                                   for i in range(20)))
            return sum(store.conflicts for store in stores)
        finally:
            for store in stores:
                await store.aclose()

    assert asyncio.run(run()) > 0  # the writers did collide: the retries are what kept every write
    out = plane.cluster.kubectl("get", "configmap", "-n", "flagger-system", configmap_name(environment), "-o",
                                "json", check=True).stdout
    data = json.loads(out)["data"]
    assert sorted(data) == sorted(f"shop.svc-{i}" for i in range(20))
    assert all(json.loads(data[f"shop.svc-{i}"])["approvals"][0]["checksum"] == f"rev-{i}" for i in range(20))


# -- the operator HTTP endpoints ------------------------------------------------------------------------------

@dataclass
class Endpoint:
    operators: str  # the operator port's base URL
    webhooks: str  # the webhook port's
    log: Path


@pytest.fixture(scope="module")
def endpoint(plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """``rollouts controller serve`` with the plane's kubeconfig: the webhooks on one port, the operator endpoints on
    their own (--operator-listen), as the StatefulSet runs it."""
    webhooks, operators = free_port(), free_port()
    config = tmp_path_factory.mktemp("endpoint") / "config.json"
    config.write_text(json.dumps(config_doc({"shop/chat": {"service": "chat"}}, ENV)), encoding="utf-8")
    log = plane.cluster.workdir / "logs" / "operator.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([str(Path(sys.executable).parent / "rollouts"), "controller", "serve",
                                   "--config", str(config), "--kubeconfig", plane.kubeconfig,
                                   "--listen", f"127.0.0.1:{webhooks}", "--operator-listen", f"127.0.0.1:{operators}"],
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for("the operator endpoint", lambda: _listening(operators, server), timeout=30, every=0.2)
        yield Endpoint(f"http://127.0.0.1:{operators}", f"http://127.0.0.1:{webhooks}", log)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _listening(port: int, server: subprocess.Popen[bytes]) -> bool:
    assert server.poll() is None, "the operator endpoint exited"
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.TransportError:
        return False
    return True


def test_the_endpoint_acts_for_callers_rbac_lets_write_the_state(plane: ControlPlane, endpoint: Endpoint) -> None:
    url, log = endpoint.operators, endpoint.log
    k = plane.cluster.kubectl
    k("create", "serviceaccount", "chatops", "-n", "flagger-system", check=True)
    token = k("create", "token", "chatops", "-n", "flagger-system", check=True).stdout.strip()
    order = {"service": "shop/chat", "environment": ENV, "reason": "from chat"}

    def post(action: str, body: Any, bearer: str | None = token) -> httpx.Response:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return httpx.post(f"{url}/operator/{action}", json=body, headers=headers, timeout=10)

    assert post("hold", order, None).status_code == 401
    bogus = post("hold", order, "not-a-token")
    assert bogus.status_code == 401 and bogus.headers["www-authenticate"] == "Bearer"
    refused = post("hold", order)
    assert refused.status_code == 403
    assert "system:serviceaccount:flagger-system:chatops may not update" in refused.json()["error"]

    k("create", "role", "state-writer", "-n", "flagger-system", "--verb=get,update",
      "--resource=configmaps", f"--resource-name={configmap_name(ENV)}", check=True)
    k("create", "rolebinding", "chatops-writes-state", "-n", "flagger-system", "--role=state-writer",
      "--serviceaccount=flagger-system:chatops", check=True)
    def admitted() -> httpx.Response | None:
        response = post("hold", order)
        return response if response.status_code == 200 else None

    held = wait_for("RBAC to admit chatops", admitted, 20)
    assert held.json() == {"action": "hold", "canary": "shop/chat", "environment": ENV,
                           "by": "system:serviceaccount:flagger-system:chatops",
                           "message": "held shop/chat in production: from chat"}
    [verdict] = decide(plane, (check_hold, call("confirm-rollout", canary="shop/chat")))
    assert not verdict.allow and "held by system:serviceaccount:flagger-system:chatops" in verdict.reason

    other_env = post("hold", {**order, "environment": "staging"})
    assert other_env.status_code == 403  # the Role names production's ConfigMap only
    assert post("promote", order).status_code == 404
    assert post("hold", {"service": "shop/chat"}).status_code == 400
    assert post("hold", {**order, "reason": "x" * 20_000}).status_code == 413
    assert post("release", order).json()["message"] == "released shop/chat in production"
    assert token not in log.read_text(errors="replace")


def test_each_port_serves_only_its_own_endpoints(endpoint: Endpoint) -> None:
    """Flagger's port has no operator endpoint and the operators' port no webhook: the Linkerd policy admits
    Flagger to the one and the operators to the other, so neither can reach what the other may."""
    payload = {"name": "chat", "namespace": "shop", "phase": "Progressing", "checksum": "rev-1"}
    on_operators = httpx.post(f"{endpoint.operators}/webhooks/confirm-rollout", json=payload, timeout=10)
    on_webhooks = httpx.post(f"{endpoint.webhooks}/operator/hold", json={"service": "shop/chat"}, timeout=10)
    assert (on_operators.status_code, on_webhooks.status_code) == (404, 404)
    decided = httpx.post(f"{endpoint.webhooks}/webhooks/confirm-rollout", json=payload, timeout=10)
    assert decided.status_code == 200, decided.text  # the same process answers Flagger on its own port


# -- the API server gone, then back ---------------------------------------------------------------------------

def test_with_the_api_server_stopped_checks_deny_and_the_cli_errors_then_state_survives(
        plane: ControlPlane) -> None:
    assert cli(plane, "hold", "shop/durable", "--reason", "before the restart").exit_code == 0
    plane.stop_apiserver()
    try:
        [hold, approval, abort] = decide(plane, (check_hold, call("confirm-rollout")),
                                         (check_approval, promotion("rev-a")),
                                         (check_abort, call("rollback")))
        for verdict in (hold, approval, abort):
            assert not verdict.allow
            assert "is unreachable" in verdict.reason, verdict.reason
        assert hold.reason.startswith("cannot read holds: the Kubernetes API at https://127.0.0.1:")

        result = cli(plane, "hold", "shop/checkout", "--reason", "x")
        assert result.exit_code == 1
        assert "the Kubernetes API at https://127.0.0.1:" in str(result.exception)
        assert "Traceback" not in result.output
    finally:
        plane.start_apiserver()
    [after] = decide(plane, (check_hold, call("confirm-rollout", canary="shop/durable")))
    assert not after.allow and after.reason.endswith(": before the restart")


# -- in-cluster credentials -----------------------------------------------------------------------------------

def test_in_cluster_credentials_read_the_rotated_token_on_every_request(plane: ControlPlane, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    k = plane.cluster.kubectl
    k("create", "serviceaccount", "controller", "-n", "flagger-system", check=True)
    k("create", "role", "state-reader", "-n", "flagger-system", "--verb=get", "--resource=configmaps", check=True)
    k("create", "rolebinding", "controller-reads-state", "-n", "flagger-system", "--role=state-reader",
      "--serviceaccount=flagger-system:controller", check=True)
    mounted = tmp_path / "serviceaccount"  # what the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount
    mounted.mkdir()
    shutil.copy(plane.cluster.workdir / "pki" / "ca.crt", mounted / "ca.crt")
    (mounted / "token").write_text("expired-or-rotated-away", encoding="utf-8")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(plane.cluster.api_port))

    def hold_verdict() -> Verdict:
        async def run() -> Verdict:
            store = StateStore.connect(kube.in_cluster(str(mounted)))
            try:
                (mounted / "token").write_text(token, encoding="utf-8")  # the kubelet rotates it under us
                return await check_hold(call("confirm-rollout", canary="shop/in-cluster"), store)
            finally:
                await store.aclose()

        return asyncio.run(run())

    token = "not-a-token"
    refused = hold_verdict()
    assert not refused.allow and "(401)" in refused.reason
    token = k("create", "token", "controller", "-n", "flagger-system", check=True).stdout.strip()
    passed = hold_verdict()
    assert (passed.allow, passed.reason) == (True, "not held")
