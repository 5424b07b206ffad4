"""The builder registry and the worker pool: a new object kind or layer is one entry in a registry, objects come
in registry order, the infrastructure chain follows the registry, and the pool keeps order and no task behind."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from rollouts.render import RenderOptions, pool
from rollouts.render.builders import INFRASTRUCTURE, SERVICE, infrastructure, service_documents
from rollouts.render.builders.policy import authorizations, server
from rollouts.render.engine import render_text
from rollouts.render.model import Built, Service
from rollouts.spec.load import Spec
from rollouts.spec.resolve import resolve

SPEC: dict[str, Any] = {
    "apiVersion": "rollouts/v1alpha1", "kind": "ServiceRollout",
    "metadata": {"name": "web", "namespace": "shop", "owner": "team"},
    "spec": {
        "workload": {"chart": {"repository": "oci://ghcr.io/acme/charts/web", "version": "1.0.0"}, "port": 8080},
        "strategy": {"type": "canary", "steps": [10, 50]},
        "environments": {"production": {}},
    },
}


def resolved() -> Any:
    return resolve(Spec("services/web/rollouts.yaml", "", copy.deepcopy(SPEC)), "production")  # type: ignore[arg-type]


def kinds_in(docs: list[Any]) -> list[str]:
    return [d["kind"] for d in yaml.safe_load_all(render_text(docs))]


def test_a_new_object_kind_is_one_builder_in_the_registry() -> None:
    def second_server(svc: Service) -> Iterator[Built]:
        yield svc.object("extra.yaml", "apps/server.yaml.j2", {"port": 9090, "selector": svc.selector,
                                                                "proxy_protocol": None},
                         "policy.linkerd.io/v1beta3", "Server", f"{svc.name}-admin", {"": ("spec", "workload")})

    before, _, _ = service_documents(resolved())
    files, origins, namespace = service_documents(resolved(), builders=(*SERVICE, second_server))
    assert set(files) - set(before) == {"extra.yaml"}
    assert "port: 9090" in render_text(files["extra.yaml"])
    (index,) = files["kustomization.yaml"]
    assert "extra.yaml" in index.context["resources"]
    assert origins[f"Server/{namespace}/web-admin"] == {"": ("spec", "workload")}


def test_objects_of_one_file_come_in_registry_order() -> None:
    forward, _, _ = service_documents(resolved(), builders=(server, authorizations))
    backward, _, _ = service_documents(resolved(), builders=(authorizations, server))
    assert kinds_in(forward["policy.yaml"]) == ["Server", "MeshTLSAuthentication", "AuthorizationPolicy"]
    assert kinds_in(backward["policy.yaml"]) == ["MeshTLSAuthentication", "AuthorizationPolicy", "Server"]


def test_the_infrastructure_chain_is_the_registry_in_order_each_layer_after_the_one_before() -> None:
    options = RenderOptions(develop=True)
    files = infrastructure(("production",), options)
    chain = list(yaml.safe_load_all(render_text(files["flux/bootstrap/rollouts/infrastructure.yaml"])))
    names = [k["metadata"]["name"] for k in chain]
    layers = [layer for build in INFRASTRUCTURE if (layer := build(options)) is not None]
    assert names == [layer.kustomization.expected.name for layer in layers]
    assert [k["spec"].get("dependsOn", []) for k in chain] == [[]] + [[{"name": n}] for n in names[:-1]]
    for layer in layers:  # each layer's directory has its kustomization.yaml, listing exactly its files
        if layer.directory:
            (index,) = files[f"{layer.directory}/kustomization.yaml"]
            listed = sorted(p[len(layer.directory) + 1:] for p in files
                            if os.path.dirname(p) == layer.directory and not p.endswith("/kustomization.yaml"))
            assert index.context["resources"] == listed


def test_a_layer_left_out_by_the_options_is_not_in_the_chain() -> None:
    files = infrastructure(("production",), RenderOptions(develop=False))
    assert not any("/develop/" in p for p in files)
    assert "develop" not in render_text(files["flux/bootstrap/rollouts/infrastructure.yaml"])


@pytest.mark.parametrize("parallel_from", [2, 10**9], ids=["forked", "in-process"])
def test_the_pool_keeps_the_order_and_no_task_behind(monkeypatch: pytest.MonkeyPatch, parallel_from: int) -> None:
    if parallel_from == 2 and ((os.cpu_count() or 1) < 2 or not pool.can_fork()):
        pytest.skip("forked workers need 2 cores and a single-threaded process")
    monkeypatch.setattr(pool, "PARALLEL_FROM", parallel_from)
    pids: list[int] = []

    def task(n: int) -> tuple[int, int]:
        return n * n, os.getpid()

    for square, pid in pool.imap(task, list(range(40))):
        pids.append(pid)
        assert pool._task is (task if parallel_from == 2 and len(pids) > 1 else None)
        assert square == (len(pids) - 1) ** 2
    assert pool._task is None
    assert (len(set(pids)) > 1) == (parallel_from == 2)  # forked: the first here, the rest in workers
    assert pids[0] == os.getpid()
