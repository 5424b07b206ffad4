"""Files that depend on the whole set of services rather than on one spec."""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from ..project import Project, discover
from ..spec.load import MAX_BYTES, parse, parse_plain
from ..spec.resolve import environments as spec_environments
from ..spec.resolve import resolve
from .builders.admission import FOLDER as ADMISSION
from .builders.admission import (
    admission_kustomization,
    environment_policies,
    environment_registries,
    previous_registries,
)
from .builders.controller import NAME as CONTROLLER
from .builders.controller import config_kustomization, config_map, environment_configs
from .engine import Doc, parse_back, render_text
from .infra import LAYER, apps_kustomizations
from .model import kustomization, namespace_doc

if TYPE_CHECKING:
    from ..spec.types import Resolved

APPS = "flux/apps"


def derived_files(services: dict[str, str], environments: tuple[str, ...], project: Project | None = None, *,
                  previous: str | None = None, fresh: Collection[str] | None = None) -> dict[str, str]:
    """Files that depend on the whole set of services: each environment's namespaces, and its Flux
    Kustomizations (flux/bootstrap/rollouts/apps-<env>.yaml: the namespaces, then one per service). No file
    aggregates the services of an environment's cluster objects: each service is applied, and built, on its own.

    With the ``project``, also each environment's analysis controller config (flux/apps/<env>/analysis-controller/:
    the ConfigMap the controller reads, from the specs of ``services`` as they are on disk, so that a cached render
    gives the same bytes as a full one) and the Kustomization that applies it. A partial render (``fresh``: the
    "<env>/<service>" it rendered) takes the other services' entries from the config in the ``previous`` tree, so
    that it replaces only its part there too."""
    out: dict[str, Any] = {}
    configs: dict[str, str] = {}
    if project is not None:
        wanted = services if fresh is None else {k: v for k, v in services.items() if k in fresh}
        kept = {} if fresh is None or previous is None else previous_entries(previous, services, fresh)
        configs = environment_configs(resolved_specs(project, wanted), environments, kept)
    policies = admission_policies(project, services, environments, previous, fresh)
    for env in environments:
        names = {k.split("/", 1)[1]: ns for k, ns in services.items() if k.split("/", 1)[0] == env}
        namespaces = sorted(set(names.values()))
        for ns in namespaces:
            out[f"{APPS}/{env}/namespaces/{ns}.yaml"] = [namespace_doc(ns, env)]
        out[f"{APPS}/{env}/namespaces/kustomization.yaml"] = [kustomization([f"{ns}.yaml" for ns in namespaces])]
        kustomizations = apps_kustomizations(env, names)
        if env in configs:
            out[f"{APPS}/{env}/{CONTROLLER}/config.yaml"] = [config_map(env, configs[env])]
            out[f"{APPS}/{env}/{CONTROLLER}/kustomization.yaml"] = [kustomization(["config.yaml"])]
            kustomizations.insert(1, config_kustomization(env))
        if env in policies:
            out[f"{APPS}/{env}/{ADMISSION}/policies.yaml"] = policies[env]
            out[f"{APPS}/{env}/{ADMISSION}/kustomization.yaml"] = [kustomization(["policies.yaml"])]
            kustomizations.insert(1, admission_kustomization(env))
        out[f"{LAYER}/apps-{env}.yaml"] = kustomizations
    texts = {}
    for file, docs in out.items():
        text = render_text(docs)
        parse_back(file, text, docs)
        texts[file] = text
    return texts


def admission_policies(project: Project | None, services: dict[str, str], environments: tuple[str, ...],
                       previous: str | None = None, fresh: Collection[str] | None = None) -> dict[str, list[Doc]]:
    """Each environment's admission policies (builders.admission), when the project names an image signer, from
    the allowed registries of every service of the environment (a partial render too: the policy is one for the
    environment). An environment a partial render (``fresh``) did not render keeps the registries its policy in
    the ``previous`` tree was made from, as the controller config keeps the other services' entries."""
    if project is None or not project.admission:
        return {}
    kept: dict[str, list[str]] = {}
    if fresh is not None and previous is not None:
        scope = {key.split("/", 1)[0] for key in fresh}
        for env in environments:
            text = _read(os.path.join(previous, "apps", env, ADMISSION, "policies.yaml"))
            registries = previous_registries(text, env) if env not in scope and text else None
            if registries is not None:
                kept[env] = registries
    specs = resolved_specs(project, {k: v for k, v in services.items() if k.split("/", 1)[0] not in kept})
    found: dict[str, list[Doc]] = {}
    for env in environments:
        registries = kept.get(env)
        if registries is None:
            registries = environment_registries(r["spec"] for k, (r, _) in specs.items()
                                                if k.split("/", 1)[0] == env)
        docs = environment_policies(env, registries, project.admission)
        if docs:
            found[env] = docs
    return found


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return ""


def resolved_specs(project: Project, services: dict[str, str]) -> dict[str, tuple[Resolved, bytes]]:
    """"<env>/<service>" -> the resolved spec and its file's bytes, for each service of ``services`` (the ones the
    render rendered: their specs lint clean). Read again here because the render cache keeps no resolved specs."""
    wanted = {key.split("/", 1)[1] for key in services}
    found: dict[str, tuple[Resolved, bytes]] = {}
    paths, _ = discover(project)
    for path in paths:
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
        except OSError:
            continue
        display = project.relative(path)
        spec = parse_plain(raw, display) or parse(raw, display)[0]
        if spec is None or not isinstance(spec.data.get("metadata"), dict):
            continue
        name = str(spec.data["metadata"].get("name", ""))
        if name not in wanted:
            continue
        for env in spec_environments(spec, project.environments or None):
            if f"{env}/{name}" in services and f"{env}/{name}" not in found:
                found[f"{env}/{name}"] = (resolve(spec, env), raw)
    return found


def previous_entries(tree: str, services: dict[str, str], fresh: Collection[str]) -> dict[str, dict[str, Any]]:
    """The controller config entries of the services a partial render did not render ("<env>/<service>" -> entry),
    from the ConfigMaps in ``tree`` (flux/ on disk); an unreadable config gives none (the full render rewrites it)."""
    import yaml_rs

    kept: dict[str, dict[str, Any]] = {}
    for env in sorted({key.split("/", 1)[0] for key in services}):
        try:
            with open(os.path.join(tree, "apps", env, CONTROLLER, "config.yaml"), encoding="utf-8") as fh:
                doc: Any = yaml_rs.loads(fh.read(), parse_datetime=False)
            entries = json.loads(doc["data"]["config.json"])["services"]
        except (OSError, ValueError, KeyError, TypeError, yaml_rs.YAMLDecodeError):
            continue
        for entry in entries.values() if isinstance(entries, dict) else ():
            key = f"{env}/{entry.get('service')}" if isinstance(entry, dict) else ""
            if key in services and key not in fresh:
                kept[key] = entry
    return kept
