"""The wired controller end to end over HTTP, with real parts only: Flagger's exact payloads replayed as whole
rollouts against the real app (a uvicorn server in a thread), whose environment's Prometheus is the real one of
tests/controller/promfixture.py (one namespace per scenario) and whose probe targets are the real shop process of
tests/controller/probe_app.py. Each test asserts the status and the one-line reason of every hook Flagger calls,
in Flagger's order, stopping where Flagger would stop advancing (the first answer that is not 2xx).

Also: every decision is signed evidence that verifies, with the judge's queries and values in its records; the
outbox delivers one HMAC-signed notification per revision to a real receiver; no secret reaches a response, a log
line, an evidence record or a notification.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rollouts.controller.app import Settings

from .controller_server import flagger_payload, free_port, running
from .promfixture import Stack, prometheus_stack, targets
from .test_outbox import HMAC_KEY, Receiver
from .test_probes import TOKEN, buy_flow, shop

__all__ = ["prometheus_stack", "shop"]

ALL_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
OPEN_ALL_DAY = [{"days": ALL_DAYS, "start": "00:00", "end": "12:00", "timeZone": "Europe/Berlin"},
                {"days": ALL_DAYS, "start": "12:00", "end": "00:00", "timeZone": "Europe/Berlin"}]
SUCCESS_RATE = ('sum(rate(response_total{namespace="{{ namespace }}", deployment="{{ deployment }}", '
                'direction="inbound", classification!="failure"}[3s])) / sum(rate(response_total{namespace='
                '"{{ namespace }}", deployment="{{ deployment }}", direction="inbound"}[3s])) * 100')
LATENCY_P99 = ('histogram_quantile(0.99, sum by (le) (rate(response_latency_ms_bucket{namespace="{{ namespace }}", '
               'deployment=~"{{ target }}", direction="inbound"}[3s])))')
SIGNING_PASSWORD = b"wiring-signing-password"

# Flagger's order of the hooks in one rollout, with the phase the Canary is in when each is called
# (pkg/controller/scheduler.go): three analysis ticks.
ROLLOUT: tuple[tuple[str, str], ...] = (
    ("confirm-rollout", "Waiting"), ("pre-rollout", "Progressing"), ("rollout", "Progressing"),
    ("rollout", "Progressing"), ("rollout", "Progressing"), ("confirm-traffic-increase", "Progressing"),
    ("confirm-promotion", "WaitingPromotion"), ("post-rollout", "Succeeded"))


def judge_section() -> dict[str, Any]:
    return {"window": "6s", "minRequests": 50, "pass": 80, "marginal": 60, "noData": "hold", "metrics": [
        {"name": "success-rate", "group": "errors", "weight": 1, "direction": "decrease", "critical": True,
         "query": SUCCESS_RATE, "allowedChange": 0.05},
        {"name": "latency-p99", "group": "latency", "weight": 1, "direction": "increase", "query": LATENCY_P99,
         "allowedChange": 0.2}]}


def full_service(scenario: str, shop: str, canary: str = "healthy") -> dict[str, Any]:
    """A service with every section the render writes (but approval: that needs the operator state), its
    Prometheus data from the ``scenario`` namespace and its probes against the shop's ``canary`` variant."""
    return {
        "service": "app",
        "targets": {**targets(scenario), "canaryURL": f"{shop}/{canary}", "primaryURL": f"{shop}/healthy"},
        "changeWindows": OPEN_ALL_DAY,
        "freezes": [{"start": "2020-12-20T00:00:00Z", "end": "2021-01-04T00:00:00Z", "reason": "an old freeze"}],
        "slo": {"successRate": 99.0, "latencyP99": "500ms", "latencyP95": None, "interval": "6s", "minRequests": 20},
        "mtls": {"minShare": 1.0},
        "probes": {"flows": [buy_flow()]},
        "judge": judge_section(),
        "errorBudget": {"objective": 99.9, "window": "6s", "minRemaining": 10,
                        "burnRateWindows": [{"long": "6s", "short": "3s", "burnRate": 14.4}]},
    }


def write_config(path: Path, services: dict[str, dict[str, Any]], prometheus: dict[str, Any]) -> str:
    path.write_text(json.dumps({"apiVersion": "rollouts.dev/v1alpha1", "kind": "AnalysisControllerConfig",
                                "environment": "production", "prometheus": prometheus, "services": services}))
    return str(path)


@pytest.fixture
def secrets_dir(tmp_path: Path) -> str:
    """The mounted Secrets: the probe's bearer token and the notification target's HMAC key."""
    for secret, key, value in (("probe-creds", "token", f"Bearer {TOKEN}\n".encode()),
                               ("chatops-hmac", "key", HMAC_KEY)):
        (tmp_path / "secrets" / secret).mkdir(parents=True)
        (tmp_path / "secrets" / secret / key).write_bytes(value)
    return str(tmp_path / "secrets")


def settings(config: str, secrets_dir: str, **kwargs: Any) -> Settings:
    return Settings(config=config, secrets_dir=secrets_dir, poll_interval=0, operator_state=False, **kwargs)


Step = tuple[str, int, str]


def replay(base: str, name: str = "app", namespace: str = "healthy", checksum: str = "rev-1",
           hooks: tuple[tuple[str, str], ...] = ROLLOUT) -> list[Step]:
    """POST Flagger's payload for each hook in turn; stop after the first answer Flagger would not pass (> 202):
    it does not advance past a denied gate."""
    steps: list[Step] = []
    with httpx.Client(timeout=15) as client:
        for hook, phase in hooks:
            response = client.post(f"{base}/webhooks/{hook}", content=flagger_payload(name, namespace, phase,
                                                                                      checksum),
                                   headers={"Content-Type": "application/json"})
            steps.append((hook, response.status_code, response.text))
            assert "\n" not in response.text
            if response.status_code > 202:
                break
    return steps


def statuses(steps: list[Step]) -> list[tuple[str, int]]:
    return [(hook, status) for hook, status, _ in steps]


def reason(steps: list[Step], hook: str) -> str:
    return next(text for h, _, text in steps if h == hook)


ALL_PASS = [(hook, 200) for hook, _ in ROLLOUT]


# --- whole rollouts ------------------------------------------------------------------------------------------------


def test_a_healthy_canary_passes_every_gate(prometheus_stack: Stack, shop: str, secrets_dir: str,
                                            tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.json", {"healthy/app": full_service("healthy", shop)},
                          {"address": prometheus_stack.url, "timeout": "5s"})
    with running(settings(config, secrets_dir)) as base:
        steps = replay(base)
    assert statuses(steps) == ALL_PASS, steps
    confirm = reason(steps, "confirm-rollout")
    assert confirm.startswith("no freeze in effect; inside change window ")
    assert confirm.endswith("; operator state not used by this controller")
    pre = reason(steps, "pre-rollout")
    assert pre.startswith("primary app-primary is healthy: success rate 100.00% over ")
    assert "; mTLS covers 100.0% of app-primary's inbound requests in 6s" in pre
    for hook, _, text in steps:
        if hook == "rollout":
            assert text == "the canary and the primary pass 3 probe step(s); canary passed: score 100 (pass 80, " \
                           "marginal 60)"
    assert reason(steps, "confirm-traffic-increase") == "operator state not used by this controller"
    assert reason(steps, "confirm-promotion") == ("operator state not used by this controller; error budget: 100.0% "
                                                  "left, policy needs 10%; no approval required")
    assert reason(steps, "post-rollout") == "accepted"


def test_a_failing_canary_is_denied_at_rollout_by_the_judge_naming_the_metric(
        prometheus_stack: Stack, shop: str, secrets_dir: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.json", {"failing/app": full_service("failing", shop)},
                          {"address": prometheus_stack.url})
    with running(settings(config, secrets_dir)) as base:
        steps = replay(base, namespace="failing")
        failed = replay(base, namespace="failing", hooks=(("post-rollout", "Failed"),))
    assert statuses(steps) == [("confirm-rollout", 200), ("pre-rollout", 200), ("rollout", 403)]
    denied = reason(steps, "rollout")
    assert denied.startswith("critical metric failed: success-rate: canary ")
    assert "lower than the primary beyond 5%" in denied
    assert failed == [("post-rollout", 200, "accepted")]


def test_failing_probes_deny_rollout_naming_the_flow_and_step(prometheus_stack: Stack, shop: str, secrets_dir: str,
                                                              tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.json", {"healthy/app": full_service("healthy", shop, canary="down")},
                          {"address": prometheus_stack.url})
    with running(settings(config, secrets_dir)) as base:
        steps = replay(base)
    assert statuses(steps) == [("confirm-rollout", 200), ("pre-rollout", 200), ("rollout", 403)]
    assert reason(steps, "rollout").startswith("probe buy/cart on the canary: expected 201, got 503 in ")


@pytest.mark.parametrize(("scenario", "start"), [
    pytest.param("unhealthy", "primary app-primary is unhealthy: success rate 9", id="unhealthy-primary"),
    pytest.param("mtlspartial", "mTLS covers 7", id="partial-mtls"),
])
def test_pre_rollout_is_denied_for_the_primary(prometheus_stack: Stack, shop: str, secrets_dir: str, tmp_path: Path,
                                               scenario: str, start: str) -> None:
    config = write_config(tmp_path / "config.json", {f"{scenario}/app": full_service(scenario, shop)},
                          {"address": prometheus_stack.url})
    with running(settings(config, secrets_dir)) as base:
        steps = replay(base, namespace=scenario)
    assert statuses(steps) == [("confirm-rollout", 200), ("pre-rollout", 403)]
    denied = reason(steps, "pre-rollout")
    assert denied.startswith(start), denied
    if scenario == "mtlspartial":
        assert denied.endswith("of app-primary's inbound requests in 6s, policy needs 100%")
    else:
        assert "SLO 99%; p99 latency 995ms in 6s, SLO 500ms" in denied


def test_low_traffic_passes_saying_not_enough_traffic(prometheus_stack: Stack, shop: str, secrets_dir: str,
                                                      tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.json", {"lowtraffic/app": full_service("lowtraffic", shop)},
                          {"address": prometheus_stack.url})
    with running(settings(config, secrets_dir)) as base:
        steps = replay(base, namespace="lowtraffic")
    assert statuses(steps) == ALL_PASS, steps
    for hook, _, text in steps:
        if hook == "rollout":
            assert text.startswith("the canary and the primary pass 3 probe step(s); not enough traffic: ")
            assert text.endswith(" requests in 6s, need 50")


def test_without_a_prometheus_address_the_prometheus_checks_deny(shop: str, secrets_dir: str,
                                                                 tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.json", {"healthy/app": full_service("healthy", shop)}, {})
    with running(settings(config, secrets_dir)) as base:
        steps = replay(base)
        rollout = replay(base, hooks=(("rollout", "Progressing"),))
        promotion = replay(base, hooks=(("confirm-promotion", "WaitingPromotion"),))
    no_address = "no Prometheus address in the production configuration"
    assert steps[-1] == ("pre-rollout", 403, no_address)
    assert rollout == [("rollout", 403, no_address)]  # the probes pass; the judge cannot run
    assert promotion == [("confirm-promotion", 403, no_address)]


def test_an_unreachable_prometheus_denies_with_the_reason(shop: str, secrets_dir: str, tmp_path: Path) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    config = write_config(tmp_path / "config.json", {"healthy/app": full_service("healthy", shop)},
                          {"address": address, "timeout": "2s"})
    with running(settings(config, secrets_dir)) as base:
        steps = replay(base)
    assert statuses(steps) == [("confirm-rollout", 200), ("pre-rollout", 403)]
    assert reason(steps, "pre-rollout").startswith(f"primary health cannot be judged: cannot reach prometheus at "
                                                   f"{address}")


def test_a_section_absent_is_not_run(secrets_dir: str, tmp_path: Path) -> None:
    """Only targets: no check that needs a section runs, not even Prometheus's (the environment has none)."""
    config = write_config(tmp_path / "config.json", {"bare/app": {"service": "app", "targets": targets("bare")}},
                          {})
    with running(settings(config, secrets_dir)) as base:
        steps = replay(base, namespace="bare")
    assert steps == [
        ("confirm-rollout", 200, "no freeze in effect; no change windows configured; operator state not used by "
                                 "this controller"),
        ("pre-rollout", 200, "slo not configured; mtls not configured"),
        ("rollout", 200, "probes not configured; judge not configured"),
        ("rollout", 200, "probes not configured; judge not configured"),
        ("rollout", 200, "probes not configured; judge not configured"),
        ("confirm-traffic-increase", 200, "operator state not used by this controller"),
        ("confirm-promotion", 200, "operator state not used by this controller; errorBudget not configured; no "
                                   "approval required"),
        ("post-rollout", 200, "accepted")]


# --- evidence, notifications, secrets ---------------------------------------------------------------------------


def records(directory: Path) -> list[dict[str, Any]]:
    """The in-toto statements of every record file, in chain order."""
    statements = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith(".")):
        try:
            doc = json.loads(path.read_bytes())
        except ValueError:
            continue
        if isinstance(doc, dict) and "payload" in doc:
            statements.append(json.loads(base64.b64decode(doc["payload"])))
    return statements


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (TOKEN, HMAC_KEY.decode().strip(), SIGNING_PASSWORD.decode()):
            assert secret not in text


def test_every_decision_is_signed_evidence_with_the_judges_inputs(
        prometheus_stack: Stack, shop: str, secrets_dir: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from rollouts.controller.evidence import EvidenceLog, Signer, verify_dir
    from rollouts.keys import load_public_key, write_key_pair

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("COSIGN_PASSWORD", SIGNING_PASSWORD.decode())
    private, public = write_key_pair(str(tmp_path / "keys"), SIGNING_PASSWORD)
    directory = tmp_path / "evidence"
    log = EvidenceLog(str(directory), Signer.from_file(private, SIGNING_PASSWORD), replica="r1",
                      secrets_dir=secrets_dir)
    config = write_config(tmp_path / "config.json", {"healthy/app": full_service("healthy", shop),
                                                     "failing/app": full_service("failing", shop)},
                          {"address": prometheus_stack.url})
    with running(settings(config, secrets_dir, evidence=log)) as base:
        healthy = replay(base, checksum="rev-h")
        failing = replay(base, namespace="failing", checksum="rev-f")
    assert statuses(healthy) == ALL_PASS and failing[-1][:2] == ("rollout", 403)

    result = verify_dir(str(directory), load_public_key(public))
    assert result.ok, result.findings
    decided = [(h, "allow" if s == 200 else "deny", t) for h, s, t in healthy + failing if h != "post-rollout"]
    assert [(d.hook, d.decision, d.reason) for d in result.decisions] == decided  # post-rollout runs no check

    statements = records(directory)
    assert len(statements) == len(decided)
    judged = [s["predicate"] for s in statements if s["predicate"]["hook"] == "rollout"]
    last = judged[-1]  # the failing canary's denial
    assert (last["checksum"], last["decision"], last["failedChecks"]) == ("rev-f", "deny", ["judge"])
    inputs = {i["name"]: i for i in last["inputs"] if i["check"] == "judge"}
    assert set(inputs) == {"canary requests", "success-rate", "latency-p99"}
    success = inputs["success-rate"]
    assert 'deployment="app"' in success["query"] and 'namespace="failing"' in success["query"]
    assert 'deployment="app-primary"' in success["detail"]  # the primary's query too
    assert success["value"] == pytest.approx(70, abs=6) and success["samples"] >= 4 and not success["passed"]
    assert inputs["canary requests"]["value"] >= 50
    probes = [i for i in last["inputs"] if i["check"] == "probes"]
    assert len(probes) == 6 and all(i["passed"] for i in probes)
    assert caplog.text.count('"event":"decision"') == len(healthy + failing)  # the log checked below is there
    assert_no_secret(caplog.text, *(t for _, _, t in healthy + failing),
                     *(p.read_text(errors="replace") for p in directory.rglob("*") if p.is_file()))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(failures=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def wait_for_deliveries(receiver: Receiver, count: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while sum(receiver.accepted.values()) < count:
        assert time.monotonic() < deadline, f"{sum(receiver.accepted.values())} of {count} delivered"
        time.sleep(0.05)


def test_notifications_promote_once_and_hold_once_per_revision(
        prometheus_stack: Stack, shop: str, secrets_dir: str, tmp_path: Path, receiver: Receiver,
        caplog: pytest.LogCaptureFixture) -> None:
    from rollouts.controller.outbox import Outbox

    caplog.set_level(logging.DEBUG)
    target = {"name": "chatops", "url": receiver.url, "events": ["promote", "abort", "hold"],
              "secret": {"secret": "chatops-hmac", "key": "key"}}
    promoted = {**full_service("healthy", shop), "notifications": [target]}
    frozen = {"service": "frozen", "targets": targets("healthy"), "notifications": [target],
              "freezes": [{"start": "2020-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z", "reason": "INC-7"}]}
    config = write_config(tmp_path / "config.json", {"healthy/app": promoted, "healthy/frozen": frozen},
                          {"address": prometheus_stack.url})
    outbox = Outbox(str(tmp_path / "outbox"), [], secrets_dir)
    with running(settings(config, secrets_dir, outbox=outbox)) as base:
        steps = replay(base, checksum="rev-p")
        assert statuses(steps) == ALL_PASS, steps
        wait_for_deliveries(receiver, 1)
        holds = [replay(base, name="frozen", checksum="rev-z", hooks=(("confirm-rollout", "Waiting"),))
                 for _ in range(3)]
        wait_for_deliveries(receiver, 2)
        time.sleep(1.5)  # a poll of the deliverer and more: nothing else comes
    assert receiver.bad_signatures == 0
    assert all(h == [("confirm-rollout", 403, h[0][2])] and h[0][2].startswith("change freeze until 2099-01-01T")
               for h in holds)
    assert sum(receiver.accepted.values()) == 2 and set(receiver.accepted.values()) == {1}
    bodies = sorted(receiver.bodies.values(), key=lambda b: str(b["event"]))
    assert [(b["event"], b["hook"], b["checksum"], b["canary"]) for b in bodies] == [
        ("hold", "confirm-rollout", "rev-z", {"namespace": "healthy", "name": "frozen"}),
        ("promote", "confirm-promotion", "rev-p", {"namespace": "healthy", "name": "app"})]
    assert bodies[0]["reason"] == holds[0][0][2]
    assert bodies[1]["reason"] == reason(steps, "confirm-promotion")
    assert caplog.text.count('"event":"decision"') == len(steps) + 3
    assert_no_secret(caplog.text, json.dumps(bodies), *(t for _, _, t in steps),
                     *(p.read_text(errors="replace") for p in (tmp_path / "outbox").rglob("*") if p.is_file()))
