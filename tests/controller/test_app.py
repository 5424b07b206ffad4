"""The controller over real HTTP: Flagger's exact payloads against a real uvicorn server on 127.0.0.1.

Real time here, with windows computed around now; tests/controller/test_windows.py stands the clock at DST days.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from rollouts.commands.controller import command
from rollouts.controller.app import CHECKS, Check, Deps, Settings
from rollouts.controller.decision import Call, Verdict

from .controller_server import config_doc, flagger_event, flagger_payload, free_port, running

ALL_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def hhmm(t: datetime) -> str:
    return t.strftime("%H:%M")


def window_around_now(before: timedelta, after: timedelta) -> dict[str, Any]:
    """Every day, from now-before to now+after in UTC (crossing midnight when that is where now is)."""
    now = datetime.now(UTC)
    return {"days": ALL_DAYS, "start": hhmm(now - before), "end": hhmm(now + after), "timeZone": "UTC"}


def write_config(path: Path, services: dict[str, dict[str, Any]], environment: str = "production") -> Path:
    path.write_text(json.dumps(config_doc(services, environment)))
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path / "config.json", {
        "shop/checkout": {"service": "checkout", "changeWindows": [window_around_now(timedelta(hours=1),
                                                                                      timedelta(hours=1))]},
        "shop/closed": {"service": "closed", "changeWindows": [
            window_around_now(-timedelta(hours=2), timedelta(hours=3))]},
        "shop/frozen": {"service": "frozen", "freezes": [
            {"start": "2020-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z", "reason": "incident INC-42"}]},
        "shop/free": {"service": "free"},
    })


@pytest.fixture
def base(config_file: Path) -> Iterator[str]:
    with running(Settings(config=str(config_file), poll_interval=0, operator_state=False)) as url:
        yield url


def post(base: str, hook: str, body: bytes, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{base}/webhooks/{hook}", content=body, headers={"Content-Type": "application/json"},
                      timeout=10, **kwargs)


# --- payloads ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "the body is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    (b"[]", "the body must be a JSON object (Flagger's CanaryWebhookPayload), got an array"),
    (b'{"namespace":"shop"}', "missing 'name': Flagger sends the Canary's name and namespace"),
    (b'{"name":"checkout"}', "missing 'namespace': Flagger sends the Canary's name and namespace"),
    (b'{"name":7,"namespace":"shop"}', "'name' must be a string, got a number"),
    (b'{"name":"","namespace":"shop"}', "'name' must not be empty"),
    (b'{"name":"checkout","namespace":"shop","checksum":1}', "'checksum' must be a string, got a number"),
    (b'{"name":"checkout","namespace":"shop","metadata":{"a":1}}', "'metadata' must be an object of strings: "
     "'a' is a number"),
    (b'{"name":"checkout","namespace":"shop","metadata":"x"}', "'metadata' must be an object of strings, got a "
     "string"),
    (b"\xff\xfe", "the body is not UTF-8 JSON"),
], ids=["not-json", "array", "no-name", "no-namespace", "name-number", "name-empty", "checksum-number",
        "metadata-value", "metadata-string", "not-utf8"])
def test_a_malformed_payload_is_a_400_with_one_line(base: str, body: bytes, reason: str) -> None:
    response = post(base, "confirm-rollout", body)
    assert (response.status_code, response.text) == (400, reason)


def test_an_oversized_payload_is_a_413_even_without_content_length(base: str) -> None:
    big = b'{"name":"checkout","namespace":"shop","metadata":{"x":"' + b"a" * 70_000 + b'"}}'

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length for the server to trust
        for i in range(0, len(big), 8192):
            yield big[i:i + 8192]

    chunked = post(base, "confirm-rollout", chunks())  # type: ignore[arg-type]
    assert (chunked.status_code, chunked.text) == (413, "payload over 64 KiB")
    declared = post(base, "confirm-rollout", big)
    assert declared.status_code == 413
    just_under = b'{"name":"free","namespace":"shop","metadata":{"x":"' + b"a" * 65_000 + b'"}}'
    assert post(base, "confirm-rollout", just_under).status_code == 200


def test_an_unknown_hook_type_is_a_404_and_get_is_405(base: str) -> None:
    response = post(base, "confirm-everything", flagger_payload())
    assert response.status_code == 404
    assert response.text.startswith("unknown hook type 'confirm-everything': expected one of confirm-rollout, ")
    assert httpx.get(f"{base}/webhooks/confirm-rollout").status_code == 405


def test_a_canary_missing_from_the_config_is_denied_never_passed(base: str) -> None:
    response = post(base, "confirm-rollout", flagger_payload(name="billing"))
    assert (response.status_code, response.text) == (404, "no configuration for shop/billing in environment(s) "
                                                           "production")
    assert post(base, "rollout", flagger_payload(name="billing")).status_code == 404


# --- confirm-rollout: windows and freezes ------------------------------------------------------------------------


def test_confirm_rollout_passes_inside_a_change_window(base: str) -> None:
    response = post(base, "confirm-rollout", flagger_payload(phase="Waiting"))
    assert response.status_code == 200
    assert "inside change window Mon,Tue,Wed,Thu,Fri,Sat,Sun" in response.text


def test_confirm_rollout_is_denied_outside_every_change_window(base: str) -> None:
    response = post(base, "confirm-rollout", flagger_payload(name="closed", phase="Waiting"))
    assert response.status_code == 403
    assert response.text.startswith("outside every change window: next opens ")
    # the window opens at the minute of now+2h, written when the fixture ran a moment ago
    assert re.search(r" UTC \(in (1h 5[89]m|2h 0m)\)$", response.text), response.text
    assert "\n" not in response.text


def test_confirm_rollout_is_denied_during_a_freeze(base: str) -> None:
    response = post(base, "confirm-rollout", flagger_payload(name="frozen"))
    assert response.status_code == 403
    assert response.text.startswith("change freeze until 2099-01-01T00:00:00Z (in ")
    assert response.text.endswith("): incident INC-42")


def test_a_service_without_windows_or_freezes_passes(base: str) -> None:
    response = post(base, "confirm-rollout", flagger_payload(name="free"))
    assert (response.status_code, response.text) == (200, "no freeze in effect; no change windows configured; "
                                                           "operator state not used by this controller")


# --- the other hook types ----------------------------------------------------------------------------------------


def test_event_and_post_rollout_answer_at_once_even_for_an_unknown_canary(base: str) -> None:
    event = post(base, "event", flagger_event("New revision detected! Scaling up checkout.shop", name="billing"))
    assert (event.status_code, event.text) == (200, "accepted")
    assert post(base, "post-rollout", flagger_payload(phase="Succeeded")).status_code == 200


def test_rollback_answers_403_when_no_abort_was_asked_for(base: str) -> None:
    response = post(base, "rollback", flagger_payload())
    assert (response.status_code, response.text) == (403, "no abort requested")


def test_flaggers_payload_without_checksum_or_metadata_is_accepted(base: str) -> None:
    """Flagger before checksums (and webhooks without metadata, which Go omits) still get a decision."""
    response = post(base, "confirm-rollout", b'{"name":"free","namespace":"shop","phase":"Progressing"}')
    assert response.status_code == 200


# --- holds and aborts: H5's operator state, failing closed ----------------------------------------------------------


def test_without_a_state_store_holds_deny_and_rollback_never_fires(config_file: Path) -> None:
    with running(Settings(config=str(config_file))) as url:
        confirm = post(url, "confirm-rollout", flagger_payload())
        promotion = post(url, "confirm-promotion", flagger_payload())
        rollback = post(url, "rollback", flagger_payload())
    no_store = "no Kubernetes API configured for the operator state (run in the cluster or pass --kubeconfig)"
    assert (confirm.status_code, confirm.text) == (403, f"cannot read holds: {no_store}")
    assert (promotion.status_code, promotion.text) == (403, f"cannot read holds: {no_store}")
    assert (rollback.status_code, rollback.text) == (403, f"cannot read abort requests: {no_store}")


def test_an_unreachable_kubernetes_api_denies_the_hold_check(config_file: Path) -> None:
    from rollouts.controller.kube import Credentials
    from rollouts.controller.state import StateStore

    store = StateStore.connect(Credentials(server=f"http://127.0.0.1:{free_port()}"), timeout=2)
    with running(Settings(config=str(config_file), store=store)) as url:
        confirm = post(url, "confirm-rollout", flagger_payload())
        rollback = post(url, "rollback", flagger_payload())
    assert confirm.status_code == 403
    assert confirm.text.startswith("cannot read holds: ")
    assert rollback.status_code == 403
    assert rollback.text.startswith("cannot read abort requests: ")


# --- budget and faults (fakes: a real check cannot be made slow or broken on demand) ------------------------------


async def fake_slow_check(call: Call, deps: Deps) -> Verdict:
    await asyncio.sleep(30)
    return Verdict.ok("fake-slow")


async def fake_broken_check(call: Call, deps: Deps) -> Verdict:
    raise RuntimeError("a bug")


def with_checks(**extra: tuple[tuple[str, Check], ...]) -> dict[Any, Any]:
    return {**CHECKS, **{hook.replace("_", "-"): checks for hook, checks in extra.items()}}


def test_a_check_over_the_budget_denies_with_timed_out(config_file: Path) -> None:
    settings = Settings(config=str(config_file), time_budget=0.3, operator_state=False,
                        checks=with_checks(confirm_rollout=(*CHECKS["confirm-rollout"],
                                                            ("fake-slow", fake_slow_check))))
    with running(settings) as url:
        started = time.monotonic()
        response = post(url, "confirm-rollout", flagger_payload())
        elapsed = time.monotonic() - started
        metrics = httpx.get(f"{url}/metrics").text
    assert (response.status_code, response.text) == (403, "fake-slow timed out after 0.3s")
    assert elapsed < 2
    assert 'rollouts_controller_check_timeouts_total{check="fake-slow",hook="confirm-rollout"} 1.0' in metrics


def test_a_check_that_raises_is_the_controllers_fault_a_500(config_file: Path) -> None:
    settings = Settings(config=str(config_file), checks=with_checks(rollout=(("fake-broken", fake_broken_check),)))
    with running(settings) as url:
        response = post(url, "rollout", flagger_payload())
    assert (response.status_code, response.text) == (500, "internal error while checking rollout (see the "
                                                          "controller's log)")


# --- configuration: missing, reloaded, invalid --------------------------------------------------------------------


def test_without_a_config_every_check_denies_and_readyz_is_503(tmp_path: Path) -> None:
    with running(Settings(config=str(tmp_path / "absent.json"))) as url:
        response = post(url, "confirm-rollout", flagger_payload())
        ready = httpx.get(f"{url}/readyz")
        live = httpx.get(f"{url}/healthz")
    assert response.status_code == 403
    assert response.text.startswith("denied: no valid controller configuration (")
    assert "absent.json: cannot read: No such file or directory" in response.text
    assert ready.status_code == 503
    assert ready.json()["ready"] is False
    assert (live.status_code, live.text) == (200, "ok")


def configmap_volume(directory: Path, generation: int, services: dict[str, dict[str, Any]],
                     text: str | None = None) -> None:
    """What the kubelet does to a ConfigMap volume: write a new timestamped directory, swap the ..data symlink."""
    data = directory / f"..{generation}"
    data.mkdir()
    (data / "config.json").write_text(text if text is not None else json.dumps(config_doc(services)))
    link = directory / "..data_tmp"
    link.symlink_to(data.name)
    os.replace(link, directory / "..data")
    if not (directory / "config.json").exists():
        (directory / "config.json").symlink_to("..data/config.json")


def test_a_changed_config_is_reloaded_and_an_invalid_one_keeps_the_last_good(tmp_path: Path) -> None:
    volume = tmp_path / "production"
    volume.mkdir()
    configmap_volume(volume, 1, {"shop/checkout": {"service": "checkout"}})
    with running(Settings(config=str(tmp_path), poll_interval=0, operator_state=False)) as url:
        assert post(url, "confirm-rollout", flagger_payload(name="billing")).status_code == 404

        configmap_volume(volume, 2, {"shop/checkout": {"service": "checkout"}, "shop/billing": {"service": "b"}})
        assert post(url, "confirm-rollout", flagger_payload(name="billing")).status_code == 200

        configmap_volume(volume, 3, {}, text='{"apiVersion": "rollouts.dev/v1alpha1"')
        kept = post(url, "confirm-rollout", flagger_payload(name="billing"))
        ready = httpx.get(f"{url}/readyz")
        metrics = httpx.get(f"{url}/metrics").text
    assert kept.status_code == 200  # the last good config is still in use
    assert ready.status_code == 200
    body = ready.json()
    assert body["stale"] is True
    assert body["error"].startswith(f"{volume}/config.json: not valid JSON: ")
    assert (body["environments"], body["services"]) == (["production"], 2)
    assert 'rollouts_controller_config_reloads_total{result="ok"} 2.0' in metrics
    assert 'rollouts_controller_config_reloads_total{result="error"} 1.0' in metrics
    assert "rollouts_controller_config_last_reload_ok 0.0" in metrics


# --- metrics and the decision log ---------------------------------------------------------------------------------


def test_metrics_count_decisions_with_bounded_labels_only(base: str) -> None:
    post(base, "confirm-rollout", flagger_payload())
    post(base, "confirm-rollout", flagger_payload(name="closed"))
    post(base, "no-such-hook", flagger_payload())
    metrics = httpx.get(f"{base}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=")
    text = metrics.text
    assert 'rollouts_controller_decisions_total{decision="allow",hook="confirm-rollout"} 1.0' in text
    assert 'rollouts_controller_decisions_total{decision="deny",hook="confirm-rollout"} 1.0' in text
    assert 'rollouts_controller_decisions_total{decision="invalid",hook="unknown"} 1.0' in text
    assert 'rollouts_controller_decision_seconds_count{hook="confirm-rollout"} 2.0' in text
    for leaked in ("checkout", "closed", "no-such-hook", "change window"):
        assert leaked not in text


def test_each_decision_is_one_json_line_keyed_by_canary_and_checksum_without_metadata(
        base: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="rollouts.controller")
    post(base, "confirm-rollout", flagger_payload(name="closed", checksum="abc123",
                                                  metadata={"token": "s3cr3t-value"}))
    lines = [r.getMessage() for r in caplog.records if r.name == "rollouts.controller.decision"]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert {k: record[k] for k in ("canary", "checksum", "decision", "environment", "hook", "phase", "status")} == {
        "canary": "shop/closed", "checksum": "abc123", "decision": "deny", "environment": "production",
        "hook": "confirm-rollout", "phase": "Progressing", "status": 403}
    assert record["checks"] == [{"allow": True, "check": "freeze"}, {"allow": False, "check": "change-window"},
                                {"allow": True, "check": "hold"}]
    assert "s3cr3t" not in lines[0]


# --- the command ----------------------------------------------------------------------------------------------------


def test_serve_runs_as_a_process_and_stops_cleanly_on_sigterm(config_file: Path) -> None:
    port = free_port()
    code = "import sys; from rollouts.commands.controller import command; sys.exit(command.main(sys.argv[1:]))"
    process = subprocess.Popen([sys.executable, "-c", code, "serve", "--config", str(config_file),
                                "--listen", f"127.0.0.1:{port}"], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        decision = post(f"http://127.0.0.1:{port}", "confirm-rollout", flagger_payload(name="closed"))
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert ready.json()["services"] == 4
    assert decision.status_code == 403
    # uvicorn shuts down (stops accepting, finishes requests in flight, runs the app's shutdown), then re-raises
    # SIGTERM so the process ends the way it was asked to
    assert process.returncode == -signal.SIGTERM, stderr
    assert "Application shutdown complete." in stderr
    lines = stderr.splitlines()
    assert lines[0] == f"controller: 4 services in environment(s) production from {config_file}"
    decisions = [json.loads(line) for line in lines if line.startswith('{"')]
    assert [(d["canary"], d["status"]) for d in decisions] == [("shop/closed", 403)]


def test_serve_refuses_a_bad_listen_address() -> None:
    result = CliRunner().invoke(command, ["serve", "--listen", "localhost"])
    assert result.exit_code == 2
    assert "expected HOST:PORT such as 0.0.0.0:8080, got 'localhost'" in result.output


# --- evidence: H4's signed chain, written before the answer ---------------------------------------------------------


def test_every_checked_decision_is_signed_evidence_before_it_is_answered(config_file: Path, tmp_path: Path) -> None:
    from rollouts.controller.evidence import EvidenceLog, Signer, verify_dir
    from rollouts.keys import load_public_key, write_key_pair

    private, public = write_key_pair(str(tmp_path / "evidence"), b"pw")
    log = EvidenceLog(str(tmp_path / "records"), Signer.from_file(private, b"pw"), replica="r1")
    with running(Settings(config=str(config_file), operator_state=False, evidence=log)) as url:
        allowed = post(url, "confirm-rollout", flagger_payload(checksum="rev-1"))
        denied = post(url, "confirm-rollout", flagger_payload(name="closed", checksum="rev-2"))
        post(url, "confirm-rollout", flagger_payload(name="billing"))  # not configured: no call, no record
    assert (allowed.status_code, denied.status_code) == (200, 403)
    result = verify_dir(str(tmp_path / "records"), load_public_key(public))
    assert result.ok, result.findings
    assert [(d.hook, d.decision, d.reason) for d in result.decisions] == [
        ("confirm-rollout", "allow", allowed.text), ("confirm-rollout", "deny", denied.text)]


def test_a_decision_that_cannot_be_recorded_is_a_500_never_a_pass(config_file: Path, tmp_path: Path) -> None:
    from rollouts.controller.evidence import EvidenceLog, Signer
    from rollouts.keys import write_key_pair

    private, _ = write_key_pair(str(tmp_path / "evidence"), b"pw")
    records = tmp_path / "records"
    log = EvidenceLog(str(records), Signer.from_file(private, b"pw"), replica="r1")
    shutil.rmtree(records / "r1")  # the chain's directory is gone and a file is in its place: every write fails
    (records / "r1").write_text("not a directory")
    with running(Settings(config=str(config_file), operator_state=False, evidence=log)) as url:
        response = post(url, "confirm-rollout", flagger_payload())
    assert (response.status_code, response.text) == (500, "cannot record the evidence of this decision (see the "
                                                          "controller's log)")


def test_serve_wants_a_signing_key_with_an_evidence_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(command, ["serve", "--listen", "127.0.0.1:1", "--evidence", str(tmp_path)])
    assert result.exit_code == 2
    assert "--evidence and --evidence-key go together: the records are signed" in result.output
