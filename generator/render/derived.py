"""Files that depend on the whole set of services rather than on one spec."""

from __future__ import annotations

from typing import Any

from .engine import parse_back, render_text
from .infra import LAYER, apps_kustomizations
from .model import kustomization, namespace_doc

APPS = "flux/apps"


def derived_files(services: dict[str, str], environments: tuple[str, ...]) -> dict[str, str]:
    """Files that depend on the whole set of services: each environment's namespaces, and its Flux
    Kustomizations (flux/bootstrap/rollouts/apps-<env>.yaml: the namespaces, then one per service). No file
    aggregates the services of an environment: each service is applied, and built, on its own."""
    out: dict[str, Any] = {}
    for env in environments:
        names = {k.split("/", 1)[1]: ns for k, ns in services.items() if k.split("/", 1)[0] == env}
        namespaces = sorted(set(names.values()))
        for ns in namespaces:
            out[f"{APPS}/{env}/namespaces/{ns}.yaml"] = [namespace_doc(ns, env)]
        out[f"{APPS}/{env}/namespaces/kustomization.yaml"] = [kustomization([f"{ns}.yaml" for ns in namespaces])]
        out[f"{LAYER}/apps-{env}.yaml"] = apps_kustomizations(env, names)
    texts = {}
    for file, docs in out.items():
        text = render_text(docs)
        parse_back(file, text, docs)
        texts[file] = text
    return texts
