"""Operators' HTTP endpoints for ChatOps and CI: ``POST /operator/{hold,release,approve,abort}``.

Body (JSON, at most 16 KiB): ``{"service", "environment", "reason", "checksum"?, "namespace"?}``. ``service`` is the
Canary's ``namespace/name``, or the service's name resolved through the controller's configuration (``resolve``),
or the name with ``namespace`` beside it.

Authentication is Kubernetes' own, not a shared secret: the caller sends ``Authorization: Bearer <token>`` with a
token the API server issued (a ServiceAccount token of the ChatOps bot or the CI job: ``kubectl create token``, a
projected volume, or the CI's OIDC token when the cluster trusts that issuer). The controller asks the API server
who that is (TokenReview) and whether that identity may ``update`` the environment's state ConfigMap
(SubjectAccessReview). So one RBAC rule governs both doors: ``rollouts hold`` writes the ConfigMap with the user's
own credentials, the endpoint acts for a caller only when the same rule lets them write it; and the action records
the identity the API server vouched for, never a name the caller claims. No static token sits in a Secret to leak
or rotate. The token is sent to the API server only; it is never logged, stored, or echoed in an answer.

Answers: 200 with ``{"message", "canary", "environment", "action", "by", "checksum"?}``; 400 malformed body; 401 no
or invalid token (``WWW-Authenticate: Bearer``); 403 not allowed by RBAC; 404 unknown action or service; 409
``approve`` without a checksum when no revision waits; 413 body too large; 503 when the Kubernetes API cannot be
reached (nothing was changed; try again).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import kube
from .state import NothingWaiting, StateStore, configmap_name, data_key

ACTIONS = ("hold", "release", "approve", "abort")
MAX_BODY = 16 * 1024
NO_REASON = "no reason given"

#: (environment, service name) -> the Canary's namespace/name, or None when the configuration has no such service
Resolver = Callable[[str, str], "str | None"]


class Refused(Exception):
    """An answer other than 200: the status and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass
class KubeAuth:
    """TokenReview + SubjectAccessReview through the controller's own API client (its ServiceAccount needs
    ``create`` on ``tokenreviews`` and ``subjectaccessreviews``, what the system:auth-delegator ClusterRole grants).
    ``audiences``: when set, only tokens issued for one of them are accepted."""

    http: httpx.AsyncClient
    namespace: str
    audiences: tuple[str, ...] = ()

    async def identify(self, token: str) -> Identity:
        spec: dict[str, Any] = {"token": token}
        if self.audiences:
            spec["audiences"] = list(self.audiences)
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        status, data = await kube.request(self.http, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", review)
        if status != 201 and status != 200:
            raise kube.refusal(status, data, "review a token")
        result = data.get("status") or {}
        user = result.get("user") or {}
        if not result.get("authenticated") or not user.get("username"):
            raise Refused(401, "the token was not accepted by the Kubernetes API")
        extra = tuple(sorted((k, tuple(v)) for k, v in (user.get("extra") or {}).items()))
        return Identity(str(user["username"]), tuple(user.get("groups") or ()), str(user.get("uid") or ""), extra)

    async def may_write(self, who: Identity, environment: str) -> bool:
        spec: dict[str, Any] = {"user": who.username, "groups": list(who.groups),
                                "resourceAttributes": {"namespace": self.namespace, "verb": "update", "group": "",
                                                       "version": "v1", "resource": "configmaps",
                                                       "name": configmap_name(environment)}}
        if who.uid:
            spec["uid"] = who.uid
        if who.extra:
            spec["extra"] = {k: list(v) for k, v in who.extra}
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        path = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
        status, data = await kube.request(self.http, "POST", path, review)
        if status != 201 and status != 200:
            raise kube.refusal(status, data, "review access")
        return bool((data.get("status") or {}).get("allowed"))


@dataclass(frozen=True)
class Order:
    """One operator request, validated."""

    action: str
    canary: str
    environment: str
    reason: str
    checksum: str | None


def parse_order(action: str, body: bytes, resolve: Resolver | None) -> Order:
    if action not in ACTIONS:
        raise Refused(404, f"unknown operator action {action!r} (one of {', '.join(ACTIONS)})")
    try:
        document = json.loads(body)
    except ValueError:
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(document, dict):
        raise Refused(400, "the body must be a JSON object")
    fields = {name: document.get(name) for name in ("service", "environment", "reason", "checksum", "namespace")}
    for name, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise Refused(400, f"{name} must be a string")
    service, environment = fields["service"] or "", fields["environment"] or ""
    if not service or not environment:
        raise Refused(400, "service and environment are required")
    canary = _canary(service, environment, fields["namespace"], resolve)
    try:
        data_key(canary)
        data_key(f"{environment}/x")  # an environment is a DNS label too (it names a ConfigMap)
    except ValueError as e:
        raise Refused(400, str(e)) from None
    return Order(action, canary, environment, one_line(fields["reason"] or ""), fields["checksum"] or None)


def one_line(reason: str) -> str:
    """The reason as it is stored and shown in Flagger's events: one line, at most 500 characters."""
    return " ".join(reason.split())[:500] or NO_REASON


def _canary(service: str, environment: str, namespace: str | None, resolve: Resolver | None) -> str:
    if "/" in service:
        return service
    if namespace:
        return f"{namespace}/{service}"
    found = resolve(environment, service) if resolve else None
    if not found:
        raise Refused(404, f"no configuration for service {service} in environment {environment} (or pass "
                      "namespace)")
    return found


async def carry_out(order: Order, store: StateStore, by: str) -> dict[str, Any]:
    """Do what the order says; the answer's fields (``message``: one line for a chat)."""
    answer: dict[str, Any] = {"action": order.action, "canary": order.canary, "environment": order.environment,
                              "by": by}
    where = f"{order.canary} in {order.environment}"
    if order.action == "hold":
        await store.hold(order.environment, order.canary, order.reason, by)
        message = f"held {where}: {order.reason}"
    elif order.action == "release":
        await store.release(order.environment, order.canary, by)
        message = f"released {where}"
    elif order.action == "approve":
        approval = await store.approve(order.environment, order.canary, order.reason, by, order.checksum)
        answer["checksum"] = approval.checksum
        message = f"approved revision {approval.checksum} of {where}: {order.reason}"
    else:
        await store.abort(order.environment, order.canary, order.reason, by, order.checksum)
        if order.checksum:
            answer["checksum"] = order.checksum
        revision = f"revision {order.checksum} of " if order.checksum else ""
        message = f"abort requested for {revision}{where}: {order.reason}"
    return {**answer, "message": message}


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "send Authorization: Bearer <a token the Kubernetes API issued>")
    return token.strip()


def routes(store: StateStore, auth: KubeAuth, resolve: Resolver | None = None) -> list[Route]:
    """The operator routes, for H1's app to mount on the operators' port (or :func:`app` to serve them alone)."""

    async def operate(request: Request) -> JSONResponse:
        try:
            who = await auth.identify(bearer_token(request))  # first: a stranger learns nothing, not even a 404
            order = parse_order(request.path_params["action"], await _body(request), resolve)
            if not await auth.may_write(who, order.environment):
                raise Refused(403, f"{who.username} may not update ConfigMap {auth.namespace}/"
                              f"{configmap_name(order.environment)} (RBAC), so may not {order.action}")
            return JSONResponse(await carry_out(order, store, who.username))
        except Refused as e:
            headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
            return JSONResponse({"error": e.reason}, status_code=e.status, headers=headers)
        except NothingWaiting as e:
            return JSONResponse({"error": e.message}, status_code=409)
        except kube.KubeError as e:
            return JSONResponse({"error": e.message}, status_code=503)

    return [Route("/operator/{action}", operate, methods=["POST"])]


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise Refused(413, f"the body is larger than {MAX_BODY} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Refused(413, f"the body is larger than {MAX_BODY} bytes")
    return body


def app(store: StateStore, auth: KubeAuth, resolve: Resolver | None = None) -> Starlette:
    return Starlette(routes=routes(store, auth, resolve))
