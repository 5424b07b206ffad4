"""Run the controller on uvicorn: the decision log as JSON lines on stderr, no access log, graceful SIGTERM.

uvicorn handles SIGTERM and SIGINT itself: it stops accepting, lets requests in flight finish (at most
``graceful_seconds``), runs the app's shutdown, then re-raises the signal so the process ends as it was asked to
(exit status -15 for SIGTERM); Kubernetes sends SIGTERM, then SIGKILL after the grace period.
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from .app import Settings, create_app


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` (all interfaces) or ``[::1]:PORT`` -> (host, port). Raises ValueError."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT such as 0.0.0.0:8080, got {text!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def configure_logging(level: int = logging.INFO) -> None:
    """The decision lines are already JSON: write each message as it is, one per line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("rollouts.controller")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    # httpx logs every request's URL at INFO: a probe's path may carry a value captured from a response
    logging.getLogger("httpx").setLevel(logging.WARNING)


def serve(settings: Settings, host: str, port: int, *, log_level: str = "info", graceful_seconds: float = 10) -> None:
    """Serve until SIGTERM or SIGINT."""
    configure_logging()
    config = uvicorn.Config(create_app(settings), host=host, port=port, log_level=log_level, access_log=False,
                            ws="none", lifespan="on", timeout_graceful_shutdown=int(graceful_seconds),
                            server_header=False)
    uvicorn.Server(config).run()
