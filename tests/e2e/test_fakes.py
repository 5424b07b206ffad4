"""The fakes behave as the parts they stand for: the proxy's lazy failure series, the loadtester's webhook answers."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from tests.e2e.cluster import free_port
from tests.e2e.fake_linkerd_proxy import FakeLinkerdProxy
from tests.e2e.fake_loadtester import FakeLoadtester


def _scrape(proxy: FakeLinkerdProxy) -> str:
    with urllib.request.urlopen(f"http://{proxy.target}/metrics", timeout=5) as response:
        return str(response.read().decode())


def test_failure_series_appears_only_after_the_first_failure() -> None:
    proxy = FakeLinkerdProxy()
    proxy.start()
    try:
        proxy.set("shop", "checkout", rps=100, errors=0.0)
        time.sleep(0.2)
        healthy = _scrape(proxy)
        assert 'classification="success"' in healthy
        assert 'classification="failure"' not in healthy
        proxy.set("shop", "checkout", rps=100, errors=0.3, latency_ms=900)
        time.sleep(0.2)
        failing = _scrape(proxy)
        assert 'response_total{direction="inbound",namespace="shop",deployment="checkout"' in failing
        assert 'status_code="500",classification="failure"}' in failing
        assert 'response_latency_ms_bucket{direction="inbound",namespace="shop",deployment="checkout"' in failing
        assert ',le="500"} 0' in failing  # 900 ms requests are above the 500 ms bucket
    finally:
        proxy.stop()


def _post(port: int, path: str, body: dict[str, Any]) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def test_loadtester_answers_as_flagger_s_loadtester() -> None:
    port = free_port()
    refused = "Error: pods is forbidden"
    tester = FakeLoadtester("127.0.0.1", port, helm_check=lambda md: refused if "deny" in md["cmd"] else None).start()
    try:
        canary = {"name": "billing-worker", "namespace": "billing", "phase": "Progressing"}
        assert _post(port, "/gate/check", canary) == (403, "Forbidden")  # closed until opened
        assert tester.open_gate("billing-worker", "billing") == 202
        assert _post(port, "/gate/check", canary) == (200, "Approved")
        assert _post(port, "/rollback/check", canary)[0] == 200  # the same storage, as upstream
        assert _post(port, "/gate/close", canary)[0] == 202
        assert _post(port, "/gate/check", canary)[0] == 403
        assert _post(port, "/", {**canary, "metadata": {"type": "bash", "cmd": "curl -sf x"}})[0] == 200
        assert _post(port, "/", {**canary, "metadata": {"cmd": "hey -z 1m x"}})[0] == 202
        assert _post(port, "/", {**canary, "metadata": {"type": "helmv3", "cmd": "test x -n ok"}})[0] == 200
        assert _post(port, "/", {**canary, "metadata": {"type": "helmv3", "cmd": "test x -n deny"}}) == (500, refused)
        assert _post(port, "/", {**canary, "metadata": {"type": "nope", "cmd": "x"}})[0] == 400
        assert _post(port, "/", canary) == (400, "metadata not found in payload")
        assert [c.path for c in tester.calls("billing-worker", "billing")][:2] == ["/gate/check", "/gate/open"]
    finally:
        tester.stop()
