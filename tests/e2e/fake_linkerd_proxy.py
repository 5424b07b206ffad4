"""A FAKE of what the Linkerd proxies of a set of Deployments export, for a real Prometheus to scrape.

The metric names and labels are the proxy's (linkerd2-proxy's inbound HTTP metrics as the linkerd-viz Prometheus
stores them): ``response_total{direction, namespace, deployment, pod, tls, status_code, classification}`` and the
histogram ``response_latency_ms_{bucket,sum,count}`` with the proxy's bucket bounds. Like the real proxy, a
``classification="failure"`` (status 500) series exists only once a failure has been counted: a Deployment that
has served no error has no failure series at all.

Traffic is synthetic: each configured (namespace, deployment) serves ``rps`` requests a second, ``errors`` of them
failing, each taking ``latency_ms``. ``set()`` changes that at runtime and, like a new ReplicaSet's pods, starts the
counters again from zero (the failure series is gone until the next failure).

A second, application exporter (``AppMetrics``) serves plain gauges an app Prometheus scrapes from the pods
(``billing_queue_lag_seconds{namespace, pod}``, the labels a pod scrape's usual relabelling keeps; there is no
``deployment`` label, which only linkerd-viz's proxy scrape adds), which the linkerd-viz Prometheus never sees.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The proxy's latency histogram bounds in milliseconds (1 ms to 50 s).
BUCKETS = (1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000,
           30000, 40000, 50000)


@dataclass
class Traffic:
    rps: float = 10.0
    errors: float = 0.0
    latency_ms: float = 20.0
    ok: float = 0.0  # counted responses (fractional until rendered)
    failed: float = 0.0
    since: float = field(default_factory=time.monotonic)

    def advance(self, now: float) -> None:
        served = self.rps * (now - self.since)
        self.since = now
        self.failed += served * self.errors
        self.ok += served * (1 - self.errors)


def _labels(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, render: Callable[[], str]) -> None:
        self.render = render
        super().__init__((host, 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        body = self.server.render().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Exporter:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._server = _Server(host, self._render_locked)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def target(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _render_locked(self) -> str:
        with self._lock:
            return self.render()

    def render(self) -> str:
        raise NotImplementedError


class FakeLinkerdProxy(_Exporter):
    """The proxies' metrics of every configured (namespace, deployment)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self._traffic: dict[tuple[str, str], Traffic] = {}

    def set(self, namespace: str, deployment: str, *, rps: float = 10.0, errors: float = 0.0,
            latency_ms: float = 20.0) -> None:
        """From now on ``deployment`` serves ``rps`` with ``errors`` failing, in ``latency_ms``; counters restart."""
        with self._lock:
            self._traffic[(namespace, deployment)] = Traffic(rps, errors, latency_ms)

    def remove(self, namespace: str, deployment: str) -> None:
        with self._lock:
            self._traffic.pop((namespace, deployment), None)

    def render(self) -> str:
        now = time.monotonic()
        totals: list[str] = ["# HELP response_total Total count of HTTP responses.", "# TYPE response_total counter"]
        histogram: list[str] = ["# HELP response_latency_ms Elapsed times between a request's headers being "
                                "received and its response stream completing",
                                "# TYPE response_latency_ms histogram"]
        for (namespace, deployment), t in sorted(self._traffic.items()):
            t.advance(now)
            base = [("direction", "inbound"), ("namespace", namespace), ("deployment", deployment),
                    ("pod", f"{deployment}-7d9c6b5f4-x2x9z"), ("tls", "true")]
            series = [("200", "success", int(t.ok))]
            if int(t.failed) > 0:  # the proxy creates the failure series on the first failure
                series.append(("500", "failure", int(t.failed)))
            for status, classification, count in series:
                totals.append("response_total" + _labels([*base, ("status_code", status),
                                                          ("classification", classification)]) + f" {count}")
                labels = [*base, ("status_code", status)]
                for bound in BUCKETS:
                    below = count if t.latency_ms <= bound else 0
                    histogram.append("response_latency_ms_bucket" + _labels([*labels, ("le", str(bound))])
                                     + f" {below}")
                histogram.append("response_latency_ms_bucket" + _labels([*labels, ("le", "+Inf")]) + f" {count}")
                histogram.append("response_latency_ms_sum" + _labels(labels) + f" {count * t.latency_ms:g}")
                histogram.append("response_latency_ms_count" + _labels(labels) + f" {count}")
        return "\n".join(totals + histogram) + "\n"


class AppMetrics(_Exporter):
    """Gauges of application pods, as an app Prometheus scraping the pods' own /metrics stores them."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self._gauges: dict[tuple[str, str, str], float] = {}

    def set(self, name: str, namespace: str, deployment: str, value: float) -> None:
        with self._lock:
            self._gauges[(name, namespace, deployment)] = value

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted({key[0] for key in self._gauges}):
            lines.append(f"# TYPE {name} gauge")
            for (metric, namespace, deployment), value in sorted(self._gauges.items()):
                if metric == name:
                    labels = [("namespace", namespace), ("pod", f"{deployment}-7d9c6b5f4-x2x9z")]
                    lines.append(name + _labels(labels) + f" {value:g}")
        return "\n".join(lines) + "\n"
