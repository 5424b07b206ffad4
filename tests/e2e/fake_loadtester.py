"""A FAKE of Flagger's loadtester (flagger:pkg/loadtester/server.go, gate.go at v1.44.0): the webhook contract
Flagger sees, without running the commands.

- ``/gate/approve`` 200; ``/gate/halt`` 403; ``/gate/check`` 200 when the gate ``name.namespace`` is open, else 403;
  ``/gate/open`` and ``/gate/close`` 202. ``/rollback/check|open|close`` likewise, on the same gate storage.
  Gates are closed until opened and stay open until closed (an in-memory map, as upstream).
- ``/`` runs ``metadata.type`` tasks: ``bash``, ``helm``, ``helmv3``, ``kubectl`` are blocking (200 here: the
  command is recorded, not run; a helm task is 500 with the error when ``helm_check`` refuses it, as helm's own
  refusal would be); no type (``cmd``) is queued (202); another type is 400; no metadata is 400.
- A body that is not a CanaryWebhookPayload is 400.

Every call is recorded (``calls``) so tests can check what the rendered webhooks asked for.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BLOCKING = ("bash", "helm", "helmv3", "kubectl")
QUEUED = ("cmd", "ngrinder")  # upstream's task factories (GetTaskFactory)


@dataclass
class Call:
    at: float
    path: str
    name: str
    namespace: str
    phase: str
    metadata: dict[str, str]
    status: int


HelmCheck = Callable[[dict[str, str]], "str | None"]


@dataclass
class _State:
    helm_check: HelmCheck | None = None
    gates: dict[str, bool] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        self.state = state
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self, status: int, text: str = "") -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._answer(200)
            return
        if path == "/gate/approve":
            self._record(path, {}, 200)
            self._answer(200, "Approved")
            return
        if path == "/gate/halt":
            self._record(path, {}, 403)
            self._answer(403, "Forbidden")
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            payload = json.loads(self.rfile.read(length) or b"null")
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            self._answer(400)
            return
        status, text = self._route(path, payload)
        self._record(path, payload, status)
        self._answer(status, text)

    def _route(self, path: str, payload: dict[str, Any]) -> tuple[int, str]:
        key = f"{payload.get('name', '')}.{payload.get('namespace', '')}"
        state = self.server.state
        with state.lock:
            if path in ("/gate/check", "/rollback/check"):
                is_open = state.gates.setdefault(key, False)
                return (200, "Approved") if is_open else (403, "Forbidden")
            if path in ("/gate/open", "/rollback/open"):
                state.gates[key] = True
                return 202, ""
            if path in ("/gate/close", "/rollback/close"):
                state.gates[key] = False
                return 202, ""
        if path != "/":
            return 404, "404 page not found\n"
        metadata = payload.get("metadata") or {}
        if not metadata:
            return 400, "metadata not found in payload"
        kind = metadata.get("type", "cmd")
        if kind in ("helm", "helmv3") and state.helm_check is not None:
            refused = state.helm_check(metadata)
            if refused:
                return 500, refused
        if kind in BLOCKING:
            return 200, ""
        if kind in QUEUED:
            return 202, ""
        return 400, f"unknown task type {kind}"

    def _record(self, path: str, payload: dict[str, Any], status: int) -> None:
        state = self.server.state
        with state.lock:
            state.calls.append(Call(time.time(), path, str(payload.get("name", "")),
                                    str(payload.get("namespace", "")), str(payload.get("phase", "")),
                                    dict(payload.get("metadata") or {}), status))

    def log_message(self, format: str, *args: object) -> None:
        pass


class FakeLoadtester:
    """Serve on ``host:port`` (the rendered webhooks name ``flagger-loadtester.flagger-system`` on port 80)."""

    def __init__(self, host: str, port: int = 80, helm_check: HelmCheck | None = None) -> None:
        self._state = _State(helm_check)
        self._server = _Server((host, port), self._state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeLoadtester:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def open_gate(self, name: str, namespace: str) -> int:
        """What an operator does: POST /gate/open {"name", "namespace"}; the status (202)."""
        host, port = self._server.server_address[:2]
        body = json.dumps({"name": name, "namespace": namespace}).encode()
        request = urllib.request.Request(f"http://{host!s}:{port}/gate/open", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)

    def is_open(self, name: str, namespace: str) -> bool:
        with self._state.lock:
            return self._state.gates.get(f"{name}.{namespace}", False)

    def calls(self, name: str | None = None, namespace: str | None = None) -> list[Call]:
        with self._state.lock:
            return [c for c in self._state.calls
                    if (name is None or c.name == name) and (namespace is None or c.namespace == namespace)]
