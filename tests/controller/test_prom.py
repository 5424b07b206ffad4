"""The Prometheus client against a real Prometheus, and against a real misbehaving HTTP server for the faults a
healthy Prometheus cannot show (slow answers, HTML error pages, a body that is not JSON)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rollouts.controller.prom import (
    Prometheus,
    PrometheusError,
    Sample,
    label_regex,
    label_value,
    prom_duration,
    substitute,
)

from .promfixture import Stack, free_port, prometheus_stack

__all__ = ["prometheus_stack"]


def run_query(address: str, promql: str, timeout: float = 5.0, at: float | None = None) -> list[Sample]:
    async def go() -> list[Sample]:
        prom = Prometheus(address, timeout)
        try:
            samples: list[Sample] = await prom.query(promql, at)
            return samples
        finally:
            await prom.aclose()

    return asyncio.run(go())


def test_instant_vector_from_real_prometheus(prometheus_stack: Stack) -> None:
    samples = run_query(prometheus_stack.url,
                        'response_total{namespace="healthy", deployment="app", classification="success", tls="true"}')
    assert len(samples) == 1
    assert samples[0].labels["direction"] == "inbound"
    assert samples[0].value > 0


def test_range_matrix_from_real_prometheus(prometheus_stack: Stack) -> None:
    async def go() -> list[int]:
        prom = Prometheus(prometheus_stack.url, 5)
        end = time.time()
        series = await prom.query_range('sum(rate(response_total{namespace="healthy"}[3s]))', end - 8, end, 1)
        await prom.aclose()
        return [len(s.points) for s in series]

    lengths = asyncio.run(go())
    assert len(lengths) == 1
    assert lengths[0] >= 6  # one point a second, the first second or two may lack two scrapes


def test_nan_and_infinity_are_parsed(prometheus_stack: Stack) -> None:
    assert math.isnan(run_query(prometheus_stack.url, "vector(0) / 0")[0].value)
    assert run_query(prometheus_stack.url, "vector(1) / 0")[0].value == math.inf
    assert run_query(prometheus_stack.url, "vector(-1) / 0")[0].value == -math.inf
    assert run_query(prometheus_stack.url, "scalar(vector(2))")[0].value == 2.0  # a scalar: one unlabelled sample


def test_empty_vector(prometheus_stack: Stack) -> None:
    assert run_query(prometheus_stack.url, 'response_total{namespace="nodata"}') == []


def test_bad_promql_is_a_one_line_reason(prometheus_stack: Stack) -> None:
    with pytest.raises(PrometheusError) as caught:
        run_query(prometheus_stack.url, "sum(")
    assert "HTTP 400, bad_data" in caught.value.reason
    assert "\n" not in caught.value.reason


def test_a_range_query_on_an_instant_endpoint_is_refused(prometheus_stack: Stack) -> None:
    with pytest.raises(PrometheusError, match="expected a vector, Prometheus answered a matrix"):
        run_query(prometheus_stack.url, "response_total[5s]")


def test_connection_refused() -> None:
    port = free_port()
    with pytest.raises(PrometheusError, match=f"cannot reach prometheus at http://127.0.0.1:{port}"):
        run_query(f"http://127.0.0.1:{port}", "up")


class Misbehaving:
    """A real HTTP server that answers like a broken Prometheus or the proxy in front of one."""

    def __init__(self, status: int, body: bytes, delay: float = 0.0) -> None:
        self.status, self.body, self.delay = status, body, delay
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with outer.lock:
                    outer.in_flight += 1
                    outer.most_in_flight = max(outer.most_in_flight, outer.in_flight)
                time.sleep(outer.delay)
                with outer.lock:
                    outer.in_flight -= 1
                try:
                    self.send_response(outer.status)
                    self.send_header("Content-Length", str(len(outer.body)))
                    self.end_headers()
                    self.wfile.write(outer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def misbehaving() -> Iterator[list[Misbehaving]]:
    servers: list[Misbehaving] = []
    yield servers
    for server in servers:
        server.close()


def serve(servers: list[Misbehaving], status: int, body: bytes, delay: float = 0.0) -> Misbehaving:
    server = Misbehaving(status, body, delay)
    servers.append(server)
    return server


def test_timeout(misbehaving: list[Misbehaving]) -> None:
    server = serve(misbehaving, 200, b"{}", delay=2.0)
    started = time.monotonic()
    with pytest.raises(PrometheusError, match=r"did not answer within 0.3s"):
        run_query(server.url, "up", timeout=0.3)
    assert time.monotonic() - started < 1.5


def test_html_error_page(misbehaving: list[Misbehaving]) -> None:
    server = serve(misbehaving, 502, b"<html>Bad Gateway</html>")
    with pytest.raises(PrometheusError, match=r"answered HTTP 502$"):
        run_query(server.url, "up")


def test_not_json(misbehaving: list[Misbehaving]) -> None:
    server = serve(misbehaving, 200, b"this is not json")
    with pytest.raises(PrometheusError, match="not its API's JSON"):
        run_query(server.url, "up")


def test_status_error_with_200(misbehaving: list[Misbehaving]) -> None:
    server = serve(misbehaving, 200, b'{"status":"error","errorType":"execution","error":"boom\\nsecond line"}')
    with pytest.raises(PrometheusError) as caught:
        run_query(server.url, "up")
    assert caught.value.reason.endswith("HTTP 200, execution: boom")


def test_bad_sample_value(misbehaving: list[Misbehaving]) -> None:
    body = b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}'
    server = serve(misbehaving, 200, body)
    with pytest.raises(PrometheusError, match="bad sample value 'x'"):
        run_query(server.url, "up")


def test_concurrency_is_bounded(misbehaving: list[Misbehaving]) -> None:
    body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
    server = serve(misbehaving, 200, body, delay=0.15)

    async def go() -> None:
        prom = Prometheus(server.url, 5, concurrency=2)
        await asyncio.gather(*(prom.query("up") for _ in range(6)))
        await prom.aclose()

    asyncio.run(go())
    assert server.most_in_flight == 2


@pytest.mark.parametrize("name", ['app"} or vector(1) #', "App", "a b", "", "a\\b", "-app"])
def test_label_values_that_could_inject_promql_are_refused(name: str) -> None:
    with pytest.raises(PrometheusError, match="not a Kubernetes name"):
        label_value(name)


def test_label_values_and_regexes() -> None:
    assert label_value("checkout-primary") == "checkout-primary"
    assert label_regex(["a.b", "c"]) == "a\\\\.b|c"  # PromQL "a\\.b|c": a literal dot


def test_substitute() -> None:
    assert substitute('x{d="{{ deployment }}"}[{{window}}]', {"deployment": "app", "window": "5m"}) == 'x{d="app"}[5m]'
    with pytest.raises(PrometheusError, match=r"unknown placeholder \{\{ target2 \}\}"):
        substitute("{{ target2 }}", {"deployment": "app"})


def test_durations() -> None:
    assert prom_duration("1h30m") == "1h30m"
    with pytest.raises(PrometheusError):
        prom_duration("5m] or vector(1) [5m")
