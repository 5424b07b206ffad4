"""Who may call the service on the mesh (Linkerd policy, default deny): a Server on its port, and for each way in
an authentication (MeshTLSAuthentication, NetworkAuthentication) with the AuthorizationPolicy that admits it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model import Built, Service
from .release import WORKLOAD


def server(svc: Service) -> Iterator[Built]:
    workload = svc.spec["workload"]
    context = {"port": svc.port, "selector": svc.selector,
               "proxy_protocol": "gRPC" if workload.get("portName") == "grpc" else None}
    yield svc.object("policy.yaml", "apps/server.yaml.j2", context, "policy.linkerd.io/v1beta3", "Server", svc.name,
                     {"": (*WORKLOAD, "port"), "/spec/port": (*WORKLOAD, "port")})


def authentications(svc: Service) -> list[dict[str, Any]]:
    """Meshed clients (any mesh identity), and an unmeshed ingress gateway's networks: a meshed gateway calls with
    its mesh identity, which the meshed-clients policy admits; an unmeshed one has none, and accessPolicy: deny
    answers it 403 unless its networks are authorized."""
    auths: list[dict[str, Any]] = [{"name": f"{svc.name}-meshed-clients", "kind": "MeshTLSAuthentication",
                                    "identities": ["*"], "origin": ("metadata",)}]
    ingress = svc.spec.get("ingress")
    if ingress and not ingress.get("meshedGateway") and ingress["gateway"].get("networks"):
        auths.append({"name": f"{svc.name}-gateway", "kind": "NetworkAuthentication",
                      "networks": list(ingress["gateway"]["networks"]),
                      "origin": ("spec", "ingress", "gateway", "networks")})
    return auths


def authorizations(svc: Service) -> Iterator[Built]:
    """Each authentication, followed by its AuthorizationPolicy (on the Server)."""
    for auth in authentications(svc):
        origin = {"": auth["origin"]}
        yield svc.object("policy.yaml", f"apps/{auth['kind'].lower()}.yaml.j2", {"auth": auth},
                         "policy.linkerd.io/v1alpha1", auth["kind"], str(auth["name"]), origin)
        yield svc.object("policy.yaml", "apps/authorizationpolicy.yaml.j2", {"auth": auth},
                         "policy.linkerd.io/v1alpha1", "AuthorizationPolicy", str(auth["name"]), dict(origin))
