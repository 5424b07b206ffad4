"""The operator state's JSON model, its ConfigMap keys, the operator requests' parsing, kubeconfig reading, and the
checks failing closed when the Kubernetes API is not there (a real closed port, no fake). The state against a
real kube-apiserver: tests/e2e/test_controller_state.py."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rollouts.commands.operator import COMMANDS, canary_key
from rollouts.controller import kube
from rollouts.controller.decision import Call, HookType
from rollouts.controller.operator import NO_REASON, Refused, parse_order
from rollouts.controller.state import (
    Approval,
    Mark,
    ServiceState,
    StateStore,
    Waiting,
    canary_of,
    check_abort,
    check_approval,
    check_completion,
    check_hold,
    configmap_name,
    data_key,
    timestamp,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.datetime(2026, 12, 3, 10, 0, tzinfo=datetime.UTC)
FULL = ServiceState(hold=Mark("incident 42", "alice", "2026-12-03T10:00:00Z"),
                    approvals=(Approval("abc123", "bob", "2026-12-03T10:01:00Z", "looks good"),),
                    abort=Mark("bad deploy", "carol", "2026-12-03T10:02:00Z", "abc123"),
                    waiting=Waiting("abc123", "2026-12-03T09:59:00Z"))


def call(hook: HookType, checksum: str = "abc123", phase: str = "Progressing", **service: Any) -> Call:
    return Call(hook=hook, namespace="shop", name="checkout", phase=phase, checksum=checksum, metadata={},
                service={"service": "checkout", **service}, environment="production", now=NOW)


# -- the model ----------------------------------------------------------------------------------------------------

def test_the_stored_json_is_the_documented_shape() -> None:
    assert json.loads(FULL.to_json()) == {
        "hold": {"reason": "incident 42", "by": "alice", "at": "2026-12-03T10:00:00Z"},
        "approvals": [{"checksum": "abc123", "by": "bob", "at": "2026-12-03T10:01:00Z", "reason": "looks good"}],
        "abort": {"reason": "bad deploy", "by": "carol", "at": "2026-12-03T10:02:00Z", "checksum": "abc123"},
        "waiting": {"checksum": "abc123", "at": "2026-12-03T09:59:00Z"}}
    assert json.loads(ServiceState().to_json()) == {"hold": None, "approvals": [], "abort": None, "waiting": None}


@pytest.mark.parametrize("state", [FULL, ServiceState(), ServiceState(abort=Mark("any", "x", "t"))],
                         ids=["full", "empty", "abort-any-revision"])
def test_the_json_reads_back_to_the_same_state(state: ServiceState) -> None:
    assert ServiceState.from_json(state.to_json()) == state


def test_the_json_is_deterministic() -> None:
    assert FULL.to_json() == ServiceState.from_json(FULL.to_json()).to_json()
    assert FULL.to_json().startswith('{"abort":')  # sorted keys, compact


@pytest.mark.parametrize("text", ['[]', '{"hold": "yes"}', '{"approvals": {}}', '{"approvals": [{"by": "x"}]}',
                                  '{"hold": {"by": 1, "at": "t"}}', "not json"],
                         ids=["list", "hold-string", "approvals-object", "approval-no-checksum", "by-number", "text"])
def test_a_value_that_is_not_the_model_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        ServiceState.from_json(text)


def test_an_approval_applies_to_its_checksum_only() -> None:
    assert FULL.approval_for("abc123") == FULL.approvals[0]
    assert FULL.approval_for("other") is None


def test_an_abort_applies_to_its_checksum_or_to_any_when_none_was_given() -> None:
    assert FULL.abort_for("abc123") is not None
    assert FULL.abort_for("other") is None
    anyone = ServiceState(abort=Mark("stop", "x", "t"))
    assert anyone.abort_for("whatever") is not None


def test_keys_and_names() -> None:
    assert data_key("shop/checkout") == "shop.checkout"
    assert canary_of("shop-staging.checkout") == "shop-staging/checkout"
    assert configmap_name("production") == "analysis-controller-state-production"
    for bad in ("shop", "shop/check.out", "Shop/checkout", "/checkout", "shop/", "a/b/c"):
        with pytest.raises(ValueError):
            data_key(bad)
    assert timestamp(datetime.datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=datetime.UTC)) == "2026-01-02T03:04:05Z"


# -- operator requests --------------------------------------------------------------------------------------------

def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def test_an_operator_request_names_the_canary_three_ways() -> None:
    def resolve(env: str, service: str) -> str | None:
        return "shop/checkout" if (env, service) == ("production", "checkout") else None

    for fields in ({"service": "shop/checkout"}, {"service": "checkout", "namespace": "shop"},
                   {"service": "checkout"}):
        order = parse_order("hold", body(environment="production", reason="  incident\n 42 ", **fields), resolve)
        assert (order.canary, order.environment, order.reason) == ("shop/checkout", "production", "incident 42")
    with pytest.raises(Refused) as e:
        parse_order("hold", body(service="cart", environment="production"), resolve)
    assert e.value.status == 404 and "no configuration for service cart" in e.value.reason


@pytest.mark.parametrize(("action", "payload", "status"), [
    ("promote", body(service="shop/checkout", environment="production"), 404),
    ("hold", b"{", 400),
    ("hold", b"[]", 400),
    ("hold", body(service="shop/checkout"), 400),
    ("hold", body(service="shop/checkout", environment="production", reason=3), 400),
    ("hold", body(service="shop/Checkout", environment="production"), 400),
    ("hold", body(service="shop/checkout", environment="prod.uction"), 400),
], ids=["unknown-action", "not-json", "not-object", "no-environment", "reason-number", "bad-name", "bad-env"])
def test_a_malformed_operator_request_is_refused(action: str, payload: bytes, status: int) -> None:
    with pytest.raises(Refused) as e:
        parse_order(action, payload, None)
    assert e.value.status == status


def test_a_missing_reason_says_so() -> None:
    order = parse_order("approve", body(service="shop/checkout", environment="production", checksum="abc"), None)
    assert (order.reason, order.checksum) == (NO_REASON, "abc")


# -- the CLI's canary names ---------------------------------------------------------------------------------------

def test_the_cli_names_the_canary_as_the_render_does() -> None:
    assert canary_key("checkout", "production", None, str(ROOT)) == "shop/checkout"
    assert canary_key("checkout", "staging", None, str(ROOT)) == "shop-staging/checkout"
    assert canary_key("checkout", "staging", "custom", str(ROOT)) == "custom/checkout"
    assert canary_key("shop/checkout", "staging", None, str(ROOT)) == "shop/checkout"


def test_the_cli_says_what_to_do_when_the_spec_is_missing(tmp_path: Path) -> None:
    result = CliRunner().invoke(COMMANDS["hold"], ["nosuch", "--env", "production", "--root", str(tmp_path)])
    assert result.exit_code == 1
    assert "cannot read the namespace of nosuch" in str(result.exception)
    assert "--namespace" in getattr(result.exception, "hint", "")


def test_the_cli_says_what_to_do_when_the_spec_is_not_yaml(tmp_path: Path) -> None:
    (tmp_path / "services" / "broken").mkdir(parents=True)
    (tmp_path / "services" / "broken" / "rollouts.yaml").write_text("metadata: [unclosed", encoding="utf-8")
    result = CliRunner().invoke(COMMANDS["abort"], ["broken", "--env", "staging", "--root", str(tmp_path)])
    assert result.exit_code == 1 and "cannot read the namespace of broken" in str(result.exception)


def test_every_operator_command_is_exported() -> None:
    assert sorted(COMMANDS) == ["abort", "approve", "hold", "release"]
    assert all(command.name == name for name, command in COMMANDS.items())


# -- kubeconfig ---------------------------------------------------------------------------------------------------

def test_a_kubeconfig_with_inline_data_and_a_token(tmp_path: Path) -> None:
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "a",
              "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1:6443/",
                                                     "certificate-authority-data": base64.b64encode(b"PEM").decode()}}],
              "users": [{"name": "u", "user": {"token": "t0ken"}}],
              "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u"}},
                           {"name": "b", "context": {"cluster": "nope", "user": "u"}}]}
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    creds = kube.from_kubeconfig(str(path))
    assert (creds.server, creds.ca_data, creds.token) == ("https://10.0.0.1:6443", "PEM", "t0ken")
    assert "t0ken" not in repr(creds)
    with pytest.raises(kube.KubeError, match="no cluster named 'nope'"):
        kube.from_kubeconfig(str(path), "b")
    with pytest.raises(kube.KubeError, match="no context named 'zz'"):
        kube.from_kubeconfig(str(path), "zz")
    with pytest.raises(kube.KubeError, match="cannot read kubeconfig"):
        kube.from_kubeconfig(str(tmp_path / "absent"))


def test_a_kubeconfig_credential_plugin_is_run_for_its_token(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin.py"
    plugin.write_text("import json, os, sys\n"
                      "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
                      "assert info['spec'] == {'interactive': False} and os.environ['REGION'] == 'eu'\n"
                      "if sys.argv[1] == 'fail': sys.exit(3)\n"
                      "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential',"
                      " 'status': {'token': 'from-plugin'}}))\n", encoding="utf-8")

    def config(arg: str) -> Path:
        exec_ = {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                 "args": [str(plugin), arg], "env": [{"name": "REGION", "value": "eu"}]}
        document = {"current-context": "a", "clusters": [{"name": "c", "cluster": {"server": "https://k:6443"}}],
                    "users": [{"name": "u", "user": {"exec": exec_}}],
                    "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u"}}]}
        path = tmp_path / f"kubeconfig-{arg}"
        path.write_text(json.dumps(document), encoding="utf-8")
        return path

    assert kube.from_kubeconfig(str(config("ok"))).token == "from-plugin"
    with pytest.raises(kube.KubeError, match="gave no credential \\(exit 3\\)"):
        kube.from_kubeconfig(str(config("fail")))


def test_outside_a_pod_in_cluster_credentials_say_so(tmp_path: Path) -> None:
    with pytest.raises(kube.KubeError, match="not running in a Kubernetes pod"):
        kube.in_cluster(str(tmp_path))


# -- failing closed with no API server ----------------------------------------------------------------------------

def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def test_with_no_api_server_every_check_denies_with_the_reason() -> None:
    async def run() -> list[Any]:
        store = StateStore.connect(kube.Credentials(server=f"https://127.0.0.1:{closed_port()}"), timeout=2)
        try:
            return [await check_hold(call("confirm-rollout"), store),
                    await check_approval(call("confirm-promotion", approval={"required": True}), store),
                    await check_abort(call("rollback"), store),
                    await check_completion(call("post-rollout", phase="Succeeded"), store)]
        finally:
            await store.aclose()

    verdicts = asyncio.run(run())
    assert [v.allow for v in verdicts] == [False, False, False, False]
    for verdict in verdicts:
        assert "is unreachable" in verdict.reason and "127.0.0.1" in verdict.reason
        [evidence] = verdict.inputs  # what the evidence records: where the state was read, what was found
        assert evidence.query == "ConfigMap flagger-system/analysis-controller-state-production key shop.checkout"
        assert (evidence.passed, evidence.detail) == (False, verdict.reason)


def test_a_canary_name_that_is_no_kubernetes_name_is_denied_not_a_crash() -> None:
    async def run() -> Any:
        store = StateStore.connect(kube.Credentials(server=f"https://127.0.0.1:{closed_port()}"), timeout=2)
        try:
            bad = Call(hook="confirm-rollout", namespace="shop", name="Check.Out", phase="", checksum="a",
                       metadata={}, service={}, environment="production", now=NOW)
            return await check_hold(bad, store)
        finally:
            await store.aclose()

    verdict = asyncio.run(run())
    assert not verdict.allow and "not a Canary key" in verdict.reason


def test_checks_that_need_no_state_do_not_read_it() -> None:
    async def run() -> list[Any]:
        store = StateStore.connect(kube.Credentials(server=f"https://127.0.0.1:{closed_port()}"), timeout=2)
        try:
            return [await check_approval(call("confirm-promotion"), store),
                    await check_completion(call("event", phase="Progressing"), store)]
        finally:
            await store.aclose()

    assert [(v.allow, v.reason) for v in asyncio.run(run())] == [
        (True, "no approval required"), (True, "phase Progressing: nothing to consume")]
