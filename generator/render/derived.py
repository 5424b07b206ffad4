"""Files that depend on the whole set of services rather than on one spec."""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..project import Project, discover
from ..spec.load import MAX_BYTES, parse, parse_plain
from ..spec.resolve import environments as spec_environments
from ..spec.resolve import resolve
from .builders.admission import FOLDER as ADMISSION
from .builders.admission import (
    admission_kustomization,
    admission_kustomization_name,
    environment_policies,
    environment_registries,
    previous_registries,
)
from .builders.controller import DIRECTORY as CONTROLLER_DIRECTORY
from .builders.controller import NAME as CONTROLLER
from .builders.controller import (
    config_kustomization,
    config_kustomization_name,
    config_map,
    environment_configs,
    referenced_secrets,
    statefulset,
)
from .builders.dashboards import overview_configmap
from .engine import Doc, parse_back, render_text
from .infra import LAYER, apps_kustomizations
from .model import kustomization, namespace_doc
from .options import RenderOptions, options_from_project

if TYPE_CHECKING:
    from ..spec.types import Resolved

APPS = "flux/apps"


def derived_files(services: dict[str, str], environments: tuple[str, ...], project: Project | None = None, *,
                  facts: Mapping[str, Mapping[str, Any]] | None = None, previous: str | None = None,
                  options: RenderOptions | None = None) -> dict[str, str]:
    """Files that depend on the whole set of services: each environment's namespaces, and its Flux
    Kustomizations (flux/bootstrap/rollouts/apps-<env>.yaml: the namespaces, then one per service). No file
    aggregates the services of an environment's cluster objects: each service is applied, and built, on its own.

    With the ``project``, also each environment's analysis controller config (flux/apps/<env>/analysis-controller/:
    the ConfigMap the controller reads), the controller's StatefulSet (it mounts every Secret those configs name)
    and, when the project names an image signer, its admission policies, each with the Kustomization that applies
    it. They are made from the ``facts`` of the services the render rendered
    ("<env>/<service>" -> builders.service_facts); a service of ``services`` without facts (a partial render's
    others) keeps its entry from the ``previous`` tree, so that a partial render replaces only its part there."""
    out: dict[str, Any] = {}
    facts = facts or {}
    configs: dict[str, str] = {}
    if project is not None:
        entries = previous_entries(previous, services, facts) if previous is not None else {}
        entries.update({key: dict(f["controller"]) for key, f in facts.items()
                        if key in services and f["controller"] is not None})  # None: fluxRollback
        configs = environment_configs(entries, environments)
        options = replace(options or options_from_project(project), environments=tuple(environments))
        out[f"{CONTROLLER_DIRECTORY}/statefulset.yaml"] = [statefulset(options, referenced_secrets(entries))]
    policies = admission_policies(project, services, environments, facts, previous)
    for env in environments:
        names = {k.split("/", 1)[1]: ns for k, ns in services.items() if k.split("/", 1)[0] == env}
        namespaces = sorted(set(names.values()))
        for ns in namespaces:
            out[f"{APPS}/{env}/namespaces/{ns}.yaml"] = [namespace_doc(ns, env)]
        out[f"{APPS}/{env}/namespaces/kustomization.yaml"] = [kustomization([f"{ns}.yaml" for ns in namespaces])]
        # a Canary is applied once the controller its webhooks call runs with this environment's config, and once
        # the admission policies that check its images are in place
        after = ((CONTROLLER, config_kustomization_name(env)) if env in configs else ()) + \
            ((admission_kustomization_name(env),) if env in policies else ())
        kustomizations = apps_kustomizations(env, names, after=after,
                                             flux_alone=flux_alone_services(env, names, facts, previous))
        if env in configs:
            out[f"{APPS}/{env}/{CONTROLLER}/config.yaml"] = [config_map(env, configs[env])]
            out[f"{APPS}/{env}/{CONTROLLER}/dashboard.yaml"] = [
                overview_configmap(env, {k: ns for k, ns in services.items() if k.split("/", 1)[0] == env})]
            out[f"{APPS}/{env}/{CONTROLLER}/kustomization.yaml"] = [kustomization(["config.yaml", "dashboard.yaml"])]
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
                       facts: Mapping[str, Mapping[str, Any]], previous: str | None = None) -> dict[str, list[Doc]]:
    """Each environment's admission policies (builders.admission), when the project names an image signer, from
    the allowed registries of every service of the environment (a partial render too: the policy is one for the
    environment): from their facts, else from their specs (read again: a partial render's others). An environment
    none of whose services a partial render rendered keeps the registries its policy in the ``previous`` tree was
    made from."""
    if project is None or not project.admission:
        return {}
    found: dict[str, list[Doc]] = {}
    for env in environments:
        keys = [key for key in services if key.split("/", 1)[0] == env]
        registries: list[str] | None = None
        if previous is not None and keys and not any(key in facts for key in keys):
            text = _read(os.path.join(previous, "apps", env, ADMISSION, "policies.yaml"))
            registries = previous_registries(text, env) if text else None
        if registries is None:
            unknown = resolved_specs(project, {key: services[key] for key in keys if key not in facts})
            registries = sorted({*(r for key in keys if key in facts for r in facts[key]["registries"]),
                                 *environment_registries(r["spec"] for r, _ in unknown.values())})
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
    """"<env>/<service>" -> the resolved spec and its file's bytes, for each service of ``services`` (services the
    render did not render: a partial render's others, whose specs linted clean when they were rendered)."""
    if not services:
        return {}
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


def flux_alone_services(env: str, names: Collection[str], facts: Mapping[str, Mapping[str, Any]],
                        previous: str | None) -> set[str]:
    """The services of ``env`` released by Flux alone (fluxRollback): from their facts, or, for those a partial
    render leaves as they are, from the previous tree (such a service has no canary.yaml)."""
    alone = set()
    for name in names:
        fact = facts.get(f"{env}/{name}")
        if fact is not None:
            if fact["fluxAlone"]:
                alone.add(name)
        elif previous is not None and not os.path.exists(os.path.join(previous, "apps", env, name, "canary.yaml")):
            alone.add(name)
    return alone


def previous_entries(tree: str, services: dict[str, str], fresh: Collection[str]) -> dict[str, dict[str, Any]]:
    """The controller config entries of the services of ``services`` not in ``fresh`` ("<env>/<service>" -> entry),
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
