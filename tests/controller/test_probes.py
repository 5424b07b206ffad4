"""The rollout hook's synthetic probes against a real HTTP app (tests/controller/probe_app.py, its own process on
127.0.0.1): flows with captures, secret headers, budgets and body matches, on a canary and a primary."""

from __future__ import annotations

import asyncio
import copy
import datetime
import logging
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from rollouts.controller.decision import Call, Verdict
from rollouts.controller.probes import ProbeMetrics, check_probes

APP = Path(__file__).with_name("probe_app.py")
TOKEN = "probe-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    """The probe app as a real process; its base URL (variants are path prefixes under it)."""
    env = {**os.environ, "PROBE_APP_TOKEN": TOKEN}
    process = subprocess.Popen([sys.executable, str(APP)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), "the probe app did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def secrets_dir(tmp_path: Path) -> str:
    (tmp_path / "probe-creds").mkdir()
    (tmp_path / "probe-creds" / "token").write_text(f"Bearer {TOKEN}\n")  # the newline kubectl --from-file keeps
    return str(tmp_path)


def buy_flow(budget: str = "500ms") -> dict[str, Any]:
    """Create a cart (secret header, capture its id), show it (id in the path and a header), pay for it (id in the
    body). The id is ``c<n>?x``: sent unencoded in the path, the ``?`` would cut it and the show step would 404."""
    return {"name": "buy", "steps": [
        {"name": "cart", "method": "POST", "path": "/api/v1/cart", "body": '{"sku":"A-1"}',
         "headersFromSecrets": {"Authorization": {"secret": "probe-creds", "key": "token"}},
         "expectStatus": 201, "latencyBudget": budget, "bodyMatch": '"status":\\s*"ok"',
         "capture": {"cartId": '"id":\\s*"([^"]+)"'}},
        {"name": "show", "path": "/api/v1/cart/{{ cartId }}", "headers": {"X-Cart": "{{cartId}}"},
         "expectStatus": 200, "latencyBudget": budget},
        {"name": "pay", "method": "POST", "path": "/api/v1/pay", "body": '{"cart": "{{ cartId }}"}',
         "expectStatus": 200, "latencyBudget": budget, "bodyMatch": "paid"},
    ]}


def make_call(shop: str, canary: str = "healthy", primary: str = "healthy",
              flows: list[dict[str, Any]] | None = None) -> Call:
    service = {"service": "checkout",
               "targets": {"canary": "checkout-canary", "primary": "checkout-primary", "namespace": "shop",
                           "canaryURL": f"{shop}/{canary}", "primaryURL": f"{shop}/{primary}"},
               "probes": {"flows": flows if flows is not None else [buy_flow()]}}
    return Call("rollout", "shop", "checkout", "Progressing", "abc123", {}, service, "production",
                datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC))


def run(call: Call, secrets_dir: str, metrics: ProbeMetrics | None = None, **kwargs: Any) -> Verdict:
    async def go() -> Verdict:
        async with httpx.AsyncClient() as client:
            return await check_probes(call, client, secrets_dir, metrics, **kwargs)

    return asyncio.run(go())


def by_name(verdict: Verdict) -> dict[str, Any]:
    return {i.name: i for i in verdict.inputs}


def assert_no_secret(verdict: Verdict, *texts: str) -> None:
    for text in (str(verdict), repr(verdict), *texts):
        assert TOKEN not in text
        assert TOKEN[6:] not in text


def test_a_healthy_canary_and_primary_pass_every_step(shop: str, secrets_dir: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    registry = CollectorRegistry()
    verdict = run(make_call(shop), secrets_dir, ProbeMetrics(registry))
    assert verdict.allow, verdict.reason
    assert verdict.reason == "the canary and the primary pass 3 probe step(s)"
    assert [i.name for i in verdict.inputs] == [f"probe buy/{s} {t}" for s in ("cart", "show", "pay")
                                                for t in ("canary", "primary")]
    show = by_name(verdict)["probe buy/show canary"]
    assert show.passed and show.samples == 1 and show.detail == "status 200"
    assert show.query == "GET /api/v1/cart/{{ cartId }}"  # the template: no captured value in the evidence
    assert show.threshold == "status 200 within 500ms" and show.value is not None and show.value < 500
    metrics = generate_latest(registry).decode()
    for step in ("cart", "show", "pay"):
        for track in ("canary", "primary"):
            labels = f'environment="production",flow="buy",service="checkout",step="{step}",track="{track}"'
            assert f"probe_success{{{labels}}} 1.0" in metrics
            assert f"probe_duration_seconds{{{labels}}} " in metrics
    assert_no_secret(verdict, caplog.text, metrics)
    assert "?x" not in str(verdict) and "%3Fx" not in str(verdict)  # nor a captured cart id


def test_a_failing_canary_is_denied_with_the_first_failure(shop: str, secrets_dir: str,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    registry = CollectorRegistry()
    verdict = run(make_call(shop, canary="down"), secrets_dir, ProbeMetrics(registry))
    assert not verdict.allow
    assert verdict.reason.startswith("probe buy/cart on the canary: expected 201, got 503 in ")
    assert verdict.reason.endswith(" ms")
    inputs = by_name(verdict)
    assert not inputs["probe buy/cart canary"].passed
    assert inputs["probe buy/show canary"].detail == "no status; not run: cart failed"
    assert inputs["probe buy/show canary"].samples == 0
    assert inputs["probe buy/pay primary"].passed
    assert verdict.extra == {"canary_failures": 3, "primary_failures": 0}
    metrics = generate_latest(registry).decode()
    assert ('probe_success{environment="production",flow="buy",service="checkout",step="cart",track="canary"} 0.0'
            in metrics)
    assert_no_secret(verdict, caplog.text, metrics)


def test_when_the_primary_fails_too_the_canary_is_still_denied_and_the_reason_says_both_fail(
        shop: str, secrets_dir: str) -> None:
    verdict = run(make_call(shop, canary="down", primary="down"), secrets_dir)
    assert not verdict.allow
    assert "; the primary also fails (probe buy/cart: expected 201, got 503 in " in verdict.reason
    assert verdict.reason.endswith("the environment is likely at fault, not only the canary")


def test_a_failing_primary_alone_passes_the_canary_and_is_reported(shop: str, secrets_dir: str) -> None:
    verdict = run(make_call(shop, primary="down"), secrets_dir)
    assert verdict.allow
    assert verdict.reason.startswith("the canary passes 3 probe step(s); the primary fails probe buy/cart: expected "
                                     "201, got 503")
    assert not by_name(verdict)["probe buy/cart primary"].passed


def test_an_unreachable_primary_is_reported_as_such(shop: str, secrets_dir: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    call = make_call(shop)
    call.service["targets"]["primaryURL"] = f"http://127.0.0.1:{closed}"
    verdict = run(call, secrets_dir)
    assert verdict.allow
    assert verdict.reason.endswith("the primary fails probe buy/cart: cannot connect")


def test_an_answer_over_the_latency_budget_fails_the_step(shop: str, secrets_dir: str) -> None:
    verdict = run(make_call(shop, canary="slow120", flows=[buy_flow(budget="40ms")]), secrets_dir)
    assert not verdict.allow
    canary = verdict.reason.split("; ")[0]  # the primary's tail varies: on a busy machine 40 ms is tight for it too
    assert canary.startswith("probe buy/cart on the canary: took ")
    assert canary.endswith(" ms, over the 40ms budget")
    assert by_name(verdict)["probe buy/cart canary"].detail.startswith("status 201; took ")


def test_no_answer_within_budget_and_slack_times_the_step_out(shop: str, secrets_dir: str) -> None:
    verdict = run(make_call(shop, canary="slow3000", flows=[buy_flow(budget="30ms")]), secrets_dir)
    assert not verdict.allow
    assert verdict.reason.split("; ")[0] == "probe buy/cart on the canary: no answer within 30ms (+250 ms)"
    assert by_name(verdict)["probe buy/cart canary"].value is not None


def test_the_whole_check_is_bounded(shop: str, secrets_dir: str) -> None:
    verdict = run(make_call(shop, canary="slow3000"), secrets_dir, deadline=0.1)
    assert not verdict.allow
    assert verdict.reason == "the probes did not finish within 100 ms"


def test_a_body_that_does_not_match_fails_the_step(shop: str, secrets_dir: str) -> None:
    verdict = run(make_call(shop, canary="wrong"), secrets_dir)
    assert not verdict.allow
    assert verdict.reason == """probe buy/cart on the canary: the body does not match '"status":\\\\s*"ok"'"""


def test_a_missing_capture_fails_the_step(shop: str, secrets_dir: str) -> None:
    flow = buy_flow()
    del flow["steps"][0]["bodyMatch"]
    verdict = run(make_call(shop, canary="wrong", flows=[flow]), secrets_dir)
    assert not verdict.allow
    assert verdict.reason.startswith("probe buy/cart on the canary: capture cartId not found in the body")


def test_the_secret_header_reaches_the_service(shop: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    (tmp_path / "probe-creds").mkdir()
    (tmp_path / "probe-creds" / "token").write_text(f"Bearer {TOKEN}-revoked")
    verdict = run(make_call(shop), str(tmp_path))
    assert not verdict.allow
    assert verdict.reason.startswith("probe buy/cart on the canary: expected 201, got 401 in ")
    assert_no_secret(verdict, caplog.text)


def test_flows_run_concurrently(shop: str, secrets_dir: str) -> None:
    """Four flows of one 200 ms step each, on two tracks: together well under the 1.6 s they would take in turn."""
    flows = [{"name": f"f{n}", "steps": [{"name": "cart", "method": "POST", "path": "/api/v1/cart",
                                          "headersFromSecrets": {"Authorization": {"secret": "probe-creds",
                                                                                   "key": "token"}},
                                          "expectStatus": 201, "latencyBudget": "2s"}]} for n in range(4)]
    verdict = run(make_call(shop, canary="slow200", primary="slow200", flows=flows), secrets_dir, deadline=1.2)
    assert verdict.allow, verdict.reason


def mutate(path: str, value: Any) -> list[dict[str, Any]]:
    flow = copy.deepcopy(buy_flow())
    step, field = path.split(".")
    flow["steps"][int(step)][field] = value
    return [flow]


@pytest.mark.parametrize(("flows", "reason"), [
    pytest.param(mutate("0.bodyMatch", "(["), "probe buy/cart: bodyMatch '([' is not a valid regular expression",
                 id="bad-regex"),
    pytest.param(mutate("0.capture", {"cartId": "no group"}),
                 "probe buy/cart: capture cartId needs a regular expression with exactly one group", id="no-group"),
    pytest.param(mutate("1.path", "/api/v1/cart/{{ basket }}"),
                 "probe buy/show: {{ basket }} is not captured by an earlier step of the flow", id="unknown-capture"),
    pytest.param(mutate("2.body", "{{ later }}"),
                 "probe buy/pay: {{ later }} is not captured by an earlier step of the flow", id="unknown-in-body"),
    pytest.param(mutate("0.latencyBudget", "fast"), "probe buy/cart: latencyBudget 'fast' is not a duration",
                 id="bad-budget"),
    pytest.param(mutate("0.headersFromSecrets", {"Authorization": {"secret": "..", "key": "token"}}),
                 "probe buy/cart: headersFromSecrets.Authorization needs a secret and a key", id="secret-traversal"),
    pytest.param(mutate("0.headersFromSecrets", {"Authorization": {"secret": "other", "key": "token"}}),
                 "probe buy/cart: secret other/token is not readable at ", id="secret-missing"),
    pytest.param([buy_flow(), buy_flow()], "probe flow buy is defined twice", id="duplicate-flow"),
])
def test_a_configuration_that_cannot_run_is_denied_with_the_reason(shop: str, secrets_dir: str,
                                                                   flows: list[dict[str, Any]], reason: str) -> None:
    verdict = run(make_call(shop, flows=flows), secrets_dir)
    assert not verdict.allow
    assert verdict.reason.startswith(f"probe configuration: {reason}")
    assert verdict.inputs == ()


def test_probes_that_are_no_object_are_denied(shop: str, secrets_dir: str) -> None:
    call = make_call(shop)
    call.service["probes"] = ["buy"]
    assert run(call, secrets_dir) == Verdict.deny("probes", "probe configuration: probes is not an object")


def test_a_missing_target_url_is_denied(shop: str, secrets_dir: str) -> None:
    call = make_call(shop)
    del call.service["targets"]["canaryURL"]
    verdict = run(call, secrets_dir)
    assert verdict == Verdict.deny("probes", "probe configuration: targets.canaryURL is not an http(s) URL")


def test_a_service_without_flows_passes(shop: str, secrets_dir: str) -> None:
    verdict = run(make_call(shop, flows=[]), secrets_dir)
    assert verdict.allow and verdict.reason == "no probe flows configured"


@pytest.mark.parametrize("value", [pytest.param(f"Bearer {TOKEN}\nX-Injected: 1", id="newline"),
                                   pytest.param(f"Bearer {TOKEN}ö", id="non-ascii")])
def test_a_secret_that_is_no_header_value_is_refused_without_showing_it(
        shop: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, value: str) -> None:
    """h11 would refuse it too, but its error (and httpcore's debug log of it) would carry the value."""
    caplog.set_level(logging.DEBUG)
    (tmp_path / "probe-creds").mkdir()
    (tmp_path / "probe-creds" / "token").write_text(value)
    verdict = run(make_call(shop), str(tmp_path))
    assert verdict == Verdict.deny("probes", "probe configuration: probe buy/cart: secret probe-creds/token is not a "
                                             "valid header value (printable ASCII only)")
    assert_no_secret(verdict, caplog.text)


def test_a_header_that_is_no_header_value_once_filled_in_fails_the_step(shop: str, secrets_dir: str) -> None:
    flow = buy_flow()
    flow["steps"][1]["headers"] = {"X-Cart": "{{ cartId }}\r\nX-Injected: 1"}
    verdict = run(make_call(shop, flows=[flow]), secrets_dir)
    assert not verdict.allow
    assert verdict.reason.startswith("probe buy/show on the canary: header X-Cart is not a valid header value")
