"""The controller on a real uvicorn server in a thread, on a free 127.0.0.1 port, and Flagger's exact payloads.

A thread rather than a process where a test injects a clock (Settings.clock); the sockets, HTTP parsing and the
ASGI stack are the real ones. tests/controller/test_app.py also runs `rollouts controller serve` as a process.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from rollouts.controller.app import Settings, create_app


@contextmanager
def running(settings: Settings) -> Iterator[str]:
    """Serve ``settings`` until the block ends; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), log_level="warning", access_log=False, ws="none",
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the controller did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def flagger_payload(name: str = "checkout", namespace: str = "shop", phase: str = "Progressing",
                    checksum: str = "6d8f9c7b5", metadata: dict[str, str] | None = None) -> bytes:
    """What Flagger's CallWebhook marshals (pkg/controller/webhook.go): Go's field order, metadata only when set."""
    doc: dict[str, Any] = {"name": name, "namespace": namespace, "phase": phase, "checksum": checksum}
    if metadata:
        doc["metadata"] = metadata
    return json.dumps(doc, separators=(",", ":")).encode()


def flagger_event(message: str, event_type: str = "Normal", **kwargs: Any) -> bytes:
    """What CallEventWebhook marshals: eventMessage, eventType and timestamp (unix ms) in metadata."""
    return flagger_payload(metadata={"eventMessage": message, "eventType": event_type,
                                     "timestamp": "1796300000000"}, **kwargs)


def config_doc(services: dict[str, dict[str, Any]], environment: str = "production") -> dict[str, Any]:
    return {"apiVersion": "rollouts.dev/v1alpha1", "kind": "AnalysisControllerConfig", "environment": environment,
            "prometheus": {"address": "http://127.0.0.1:9", "timeout": "5s"}, "services": services}
