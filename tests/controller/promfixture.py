"""A real Prometheus scraping a test exporter of Linkerd-named series, for the controller's tests.

``LinkerdExporter`` is a real HTTP server (a thread) whose ``/metrics`` serves what Linkerd's proxies and
linkerd-viz's relabelling give Prometheus: ``response_total`` and ``response_latency_ms_bucket`` (Linkerd's bucket
bounds) with ``namespace``, ``deployment``, ``direction``, ``classification``, ``status_code`` and ``tls`` labels.
Each workload (namespace, deployment) gets a :class:`Traffic`: requests per second, the share failing, the latency
and the share over mTLS; the counters grow by that much per second of real time between scrapes.

``PrometheusServer`` runs Debian's ``/usr/bin/prometheus`` on a free port in a temp directory, scraping the exporter
every second. The :func:`prometheus_stack` fixture starts both once per test process (the first test waits about
``WARM_UP`` seconds for data; the others reuse it) with every scenario of :data:`SCENARIOS` served at once, one
namespace each, so a test picks its scenario by namespace. Tests use windows of a few seconds (``6s``).

Import it from another test module: ``from .promfixture import prometheus_stack, SCENARIOS, targets``.
"""

from __future__ import annotations

import atexit
import math
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

# Linkerd's proxy latency histogram bounds, in milliseconds (linkerd2-proxy's response_latency_ms).
LATENCY_BUCKETS_MS = (1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000,
                      10000, 20000, 30000, 40000, 50000)
SCRAPE_INTERVAL = 1.0
WARM_UP = 8.0  # seconds of scrapes before the first test (Prometheus's first scrape comes ~6 s after start)


@dataclass(frozen=True)
class Traffic:
    """What one deployment serves, per second."""

    rps: float
    failure_ratio: float = 0.0
    latency_ms: float = 20.0
    tls_share: float = 1.0


CANARY, PRIMARY = "app", "app-primary"  # Flagger's names: the canary keeps the name, the primary gets -primary

# namespace -> deployment -> traffic. "nodata" has no series at all.
SCENARIOS: dict[str, dict[str, Traffic]] = {
    "healthy": {CANARY: Traffic(20), PRIMARY: Traffic(20)},
    "failing": {CANARY: Traffic(20, failure_ratio=0.3, latency_ms=250), PRIMARY: Traffic(20)},
    "lowtraffic": {CANARY: Traffic(0.2), PRIMARY: Traffic(20)},
    "unhealthy": {CANARY: Traffic(20), PRIMARY: Traffic(20, failure_ratio=0.1, latency_ms=700)},
    "mtlspartial": {CANARY: Traffic(20), PRIMARY: Traffic(20, tls_share=0.75)},
    "nodata": {},
}


def targets(namespace: str) -> dict[str, str]:
    """The config's ``targets`` for a scenario."""
    return {"canary": CANARY, "primary": PRIMARY, "namespace": namespace,
            "canaryURL": f"http://{CANARY}.{namespace}:8080", "primaryURL": f"http://{PRIMARY}.{namespace}:8080"}


@dataclass
class _Counters:
    """Accumulated requests of one workload, split by classification and tls."""

    success_tls: float = 0.0
    success_plain: float = 0.0
    failure_tls: float = 0.0
    failure_plain: float = 0.0
    latency_sum: float = 0.0


@dataclass
class LinkerdExporter:
    """The test exporter: a real HTTP server on 127.0.0.1 in a thread."""

    workloads: dict[tuple[str, str], Traffic] = field(default_factory=dict)
    scrapes: int = 0
    _counters: dict[tuple[str, str], _Counters] = field(default_factory=dict)
    _last: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def set(self, namespace: str, deployment: str, traffic: Traffic) -> None:
        with self._lock:
            self._advance()
            self.workloads[(namespace, deployment)] = traffic

    def start(self) -> str:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.exposition().encode()
                self.send_response(200 if self.path == "/metrics" else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return f"127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def _advance(self) -> None:
        now = time.monotonic()
        elapsed, self._last = now - self._last, now
        for key, traffic in self.workloads.items():
            c = self._counters.setdefault(key, _Counters())
            requests = traffic.rps * elapsed
            failed = requests * traffic.failure_ratio
            c.failure_tls += failed * traffic.tls_share
            c.failure_plain += failed * (1 - traffic.tls_share)
            c.success_tls += (requests - failed) * traffic.tls_share
            c.success_plain += (requests - failed) * (1 - traffic.tls_share)
            c.latency_sum += requests * traffic.latency_ms

    def exposition(self) -> str:
        """The Prometheus text format of every workload's counters."""
        with self._lock:
            self._advance()
            self.scrapes += 1
            lines = ["# TYPE response_total counter", "# TYPE response_latency_ms histogram"]
            for (namespace, deployment), c in sorted(self._counters.items()):
                base = f'namespace="{namespace}",deployment="{deployment}",direction="inbound"'
                for classification, status, tls, value in (
                        ("success", "200", True, c.success_tls), ("success", "200", False, c.success_plain),
                        ("failure", "500", True, c.failure_tls), ("failure", "500", False, c.failure_plain)):
                    tls_labels = 'tls="true"' if tls else 'tls="no_identity",no_tls_reason="not_provided_by_remote"'
                    lines.append(f'response_total{{{base},classification="{classification}",'
                                 f'status_code="{status}",{tls_labels}}} {math.floor(value)}')
                total = math.floor(c.success_tls + c.success_plain + c.failure_tls + c.failure_plain)
                latency = self.workloads[(namespace, deployment)].latency_ms
                for bound in LATENCY_BUCKETS_MS:
                    lines.append(f'response_latency_ms_bucket{{{base},le="{bound}"}} '
                                 f'{total if latency <= bound else 0}')
                lines.append(f'response_latency_ms_bucket{{{base},le="+Inf"}} {total}')
                lines.append(f"response_latency_ms_count{{{base}}} {total}")
                lines.append(f"response_latency_ms_sum{{{base}}} {c.latency_sum:.0f}")
            return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrometheusServer:
    """Debian's Prometheus on a free port, its data in a temp directory, scraping ``target`` every second."""

    binary: str
    target: str
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rollouts-prom-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_within: float = 20.0) -> None:
        config = self.directory / "prometheus.yml"
        config.write_text(f"global:\n  scrape_interval: {SCRAPE_INTERVAL:g}s\n  evaluation_interval: 1s\n"
                          f"scrape_configs:\n  - job_name: linkerd-proxy\n    honor_labels: true\n"
                          f"    static_configs:\n      - targets: ['{self.target}']\n")
        with (self.directory / "prometheus.log").open("wb") as log:  # the child keeps its own copy of the fd
            self.process = subprocess.Popen(
                [self.binary, f"--config.file={config}", f"--storage.tsdb.path={self.directory / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.directory / 'prometheus.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready within {ready_within:g}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class Stack:
    """The running exporter and Prometheus."""

    exporter: LinkerdExporter
    prometheus: PrometheusServer
    url: str

    def wait_for_data(self, seconds: float = WARM_UP, within: float = 30.0) -> None:
        """Until Prometheus holds ``seconds`` of scrapes (counted from the first one it stored)."""
        deadline = time.monotonic() + within
        first: float | None = None
        while time.monotonic() < deadline:
            if first is None:
                answer = httpx.get(f"{self.url}/api/v1/query", params={"query": "count(response_total)"}).json()
                if answer["data"]["result"]:
                    first = time.monotonic()
            elif time.monotonic() - first >= seconds:
                return
            time.sleep(0.25)
        raise RuntimeError(f"prometheus holds no {seconds:g}s of data after {within:g}s")


_STACK: Stack | None = None


def start_stack(binary: str) -> Stack:
    """Start (once per process) the exporter with every scenario and a Prometheus scraping it."""
    global _STACK
    if _STACK is None:
        exporter = LinkerdExporter()
        for namespace, workloads in SCENARIOS.items():
            for deployment, traffic in workloads.items():
                exporter.set(namespace, deployment, traffic)
        target = exporter.start()
        server = PrometheusServer(binary, target)
        try:
            server.start()
        except BaseException:
            server.stop()
            exporter.stop()
            raise
        atexit.register(exporter.stop)
        atexit.register(server.stop)
        stack = Stack(exporter, server, server.url)
        stack.wait_for_data()
        _STACK = stack
    return _STACK


@pytest.fixture(scope="session")
def prometheus_stack(tool: Callable[[str], str]) -> Stack:
    """A real Prometheus with :data:`SCENARIOS`' data (skipped when Prometheus is absent, a failure in CI)."""
    return start_stack(tool("prometheus"))
