"""Run the controller on uvicorn: the decision log as JSON lines on stderr, no access log, graceful SIGTERM.

uvicorn handles SIGTERM and SIGINT itself: it stops accepting, lets requests in flight finish (at most
``graceful_seconds``), runs the app's shutdown, then re-raises the signal so the process ends as it was asked to
(exit status -15 for SIGTERM); Kubernetes sends SIGTERM, then SIGKILL after the grace period.
"""

from __future__ import annotations

import logging
import socket
import sys

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import operator
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


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, as uvicorn binds one (SO_REUSEADDR; IPv6 for an address with a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def by_port(webhooks: ASGIApp, others: dict[int, ASGIApp]) -> ASGIApp:
    """One ASGI app for every port: a connection to a port of ``others`` reaches only that app (the operator
    endpoints, the metrics), any other only the webhooks (uvicorn puts the listening socket's address in the scope's
    ``server``). Lifespan events go to the webhooks' app, which owns the controller's background tasks."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        other = others.get(server[1]) if scope["type"] != "lifespan" and server else None
        await (other or webhooks)(scope, receive, send)

    return app


def metrics_app(webhooks: Starlette) -> Starlette:
    """``GET /metrics`` alone, for the port Prometheus scrapes (the webhooks' port admits only Flagger)."""
    registry = webhooks.state.metrics.registry

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])


def operator_app(settings: Settings, webhooks: Starlette) -> Starlette | None:
    """The operator endpoints (hold, release, approve, abort) on the controller's own state store and Kubernetes
    client; a service name resolves through the controller's current configuration. None without a store."""
    store = settings.store
    if store is None:
        return None
    source = webhooks.state.controller.source

    def resolve(environment: str, name: str) -> str | None:
        config = source.current().config
        env = config.environments.get(environment) if config is not None else None
        found = [key for key, svc in (env.services.items() if env else ()) if svc.get("service") == name]
        return found[0] if len(found) == 1 else None

    return operator.app(store, operator.KubeAuth(store.http, store.namespace), resolve)


def serve(settings: Settings, host: str, port: int, *, operator_listen: tuple[str, int] | None = None,
          metrics_listen: tuple[str, int] | None = None, log_level: str = "info",
          graceful_seconds: float = 10) -> None:
    """Serve the webhooks on ``host:port``; with ``operator_listen`` and an operator state store, the operator
    endpoints on their own address; with ``metrics_listen``, /metrics on its own; until SIGTERM or SIGINT."""
    configure_logging()
    webhooks = create_app(settings)
    sockets = [bind(host, port)]
    others: dict[int, ASGIApp] = {}
    operators = operator_app(settings, webhooks) if operator_listen else None
    if operators is not None and operator_listen is not None:
        sockets.append(bind(*operator_listen))
        others[operator_listen[1]] = operators
    if metrics_listen is not None:
        sockets.append(bind(*metrics_listen))
        others[metrics_listen[1]] = metrics_app(webhooks)
    config = uvicorn.Config(by_port(webhooks, others) if others else webhooks, log_level=log_level,
                            access_log=False, ws="none", lifespan="on",
                            timeout_graceful_shutdown=int(graceful_seconds), server_header=False)
    uvicorn.Server(config).run(sockets=sockets)
