"""The services' own HTTP endpoints, for the analysis controller's synthetic probes in the Flagger suite: the journeys
the example specs probe (checkout: POST /api/v1/cart -> 201, POST /api/v1/pay -> 200 ``{"status":"ok"}``;
frontend: GET / -> 200 with ``<title>Acme Shop</title>``, GET /p/A-1 -> 200), on every port the specs name, answered
for whichever ``<service>-canary.<namespace>`` or ``<service>-primary.<namespace>`` the Host header names.

A release can be made to fail its probes: :meth:`ProbeApp.fail` makes one track of one service answer 500.
Every request is recorded (host, method, path, status), so a test sees which track was probed."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROUTES = {("POST", "/api/v1/cart"): (201, b'{"id":"c-1"}'), ("POST", "/api/v1/pay"): (200, b'{"status":"ok"}'),
          ("GET", "/"): (200, b"<html><head><title>Acme Shop</title></head></html>"),
          ("GET", "/p/A-1"): (200, b"<html><head><title>A-1</title></head></html>")}


@dataclass(frozen=True)
class Request:
    host: str
    method: str
    path: str
    status: int


def target(host: str) -> tuple[str, str, str] | None:
    """``checkout-canary.shop:8080`` -> (namespace, service, track)."""
    name, _, rest = host.partition(".")
    namespace = rest.split(".")[0].split(":")[0]
    for track in ("canary", "primary"):
        if name.endswith(f"-{track}"):
            return namespace, name.removesuffix(f"-{track}"), track
    return None


class ProbeApp:
    def __init__(self, host: str, ports: tuple[int, ...]) -> None:
        self.host, self.ports = host, ports
        self.failing: set[tuple[str, str, str]] = set()
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.servers: list[ThreadingHTTPServer] = []

    def fail(self, namespace: str, service: str, track: str = "canary", failing: bool = True) -> None:
        with self.lock:
            (self.failing.add if failing else self.failing.discard)((namespace, service, track))

    def seen(self, namespace: str, service: str, track: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if target(r.host) == (namespace, service, track)]

    def start(self) -> ProbeApp:
        app = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                host = self.headers.get("Host", "")
                status, body = ROUTES.get((self.command, self.path.split("?")[0]), (404, b"not found"))
                with app.lock:
                    if target(host) in app.failing:
                        status, body = 500, b"internal error"
                    app.requests.append(Request(host, self.command, self.path, status))
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if body.startswith(b"{") else "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        for port in self.ports:
            server = ThreadingHTTPServer((self.host, port), Handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers.append(server)
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
