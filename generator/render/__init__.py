"""``rollouts render``: services/*/rollouts.yaml -> the flux/ tree Flux reconciles and Flagger runs on Linkerd.

Public API (returns results, never prints): :func:`render`, :func:`write_tree`, :func:`check_tree`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from generator.findings import Finding, Severity, error
from generator.project import Project
from generator.render.infra import RenderOptions
from generator.render.origins import Origins, Position
from generator.spec.load import Spec

__all__ = ["RenderOptions", "RenderResult", "check_tree", "render", "write_tree"]

APPS = "flux/apps"


@dataclass
class RenderResult:
    """What a render produced: file texts by POSIX path from the repository root, findings, and origins.

    ``services`` maps "<environment>/<service>" to the service's namespace in that environment; ``scope`` lists
    the path prefixes this render is responsible for (everything under flux/ for a full render), so a partial
    render (``--env``/``--service``) replaces only what it rendered.
    """

    files: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    origins: Mapping[str, Mapping[str, Position]] = field(default_factory=Origins)
    services: dict[str, str] = field(default_factory=dict)
    scope: list[str] = field(default_factory=list)
    complete: bool = True

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


def options_from_project(project: Project) -> RenderOptions:
    """Render options from the ``render:`` section of rollouts.project.yaml, when there is one:
    ``render: {repository: URL, branch: main, develop: false}``."""
    from generator.project import PROJECT_FILE
    from generator.spec.load import parse

    path = os.path.join(project.root, PROJECT_FILE)
    if not os.path.exists(path):
        return RenderOptions()
    with open(path, "rb") as fh:
        doc, _ = parse(fh.read(1024 * 1024), PROJECT_FILE)
    section = doc.data.get("render") if doc is not None else None
    if not isinstance(section, dict):
        return RenderOptions()
    defaults = RenderOptions()
    return RenderOptions(repo_url=str(section.get("repository", defaults.repo_url)),
                         branch=str(section.get("branch", defaults.branch)),
                         develop=bool(section.get("develop", False)))


def render(project: Project, specs: list[Spec] | None = None, environments: list[str] | None = None,
           services: list[str] | None = None, options: RenderOptions | None = None,
           progress: Callable[[int, int], None] | None = None) -> RenderResult:
    """Render the project (or the given, already linted ``specs``), limited to ``environments``/``services``.

    Lint errors stop the render: the result then has findings and no files.
    """
    from generator.render.engine import RenderCheckError, parse_back, render_text
    from generator.render.infra import infrastructure
    from generator.render.model import service_documents
    from generator.render.safe import RenderValueError

    options = options or options_from_project(project)
    result = RenderResult(complete=environments is None and services is None)
    result.findings += project.findings
    origins = Origins()
    result.origins = origins
    envs = [e for e in project.environments if environments is None or e in environments]
    for wanted in environments or []:
        if wanted not in project.environments:
            result.findings.append(error("render-unknown-environment", "rollouts.project.yaml", 0, 0,
                                         f"environment {wanted!r} is not one of the project's: "
                                         f"{', '.join(project.environments)}"))
    loaded = _load(project, specs, services, result)
    if not result.ok:
        return result

    seen: dict[str, str] = {}
    jobs: list[tuple[Spec, str, str]] = []
    for spec in loaded:
        from generator.spec.resolve import environments as spec_environments

        name = spec.name
        if name in seen:
            result.findings.append(error("render-duplicate-service", spec.file, 1, 1,
                                         f"service {name!r} is also defined in {seen[name]}",
                                         "Give each service its own metadata.name."))
            continue
        seen[name] = spec.file
        for env in spec_environments(spec):
            if env in envs:
                jobs.append((spec, env, os.path.join(project.root, spec.file)))
    for name in services or []:
        if name not in seen:
            result.findings.append(error("render-unknown-service", "services", 0, 0,
                                         f"no services/*/rollouts.yaml has metadata.name {name!r}"))
    if not result.ok:
        return result

    if result.complete:
        result.scope = ["flux/"]
    elif services is None:
        result.scope = [f"{APPS}/{e}/" for e in envs]
    else:
        result.scope = [f"{APPS}/{e}/{s}/" for e in envs for s in services]

    from generator.spec.resolve import resolve

    total = len(jobs)
    for done, (spec, env, path) in enumerate(jobs, start=1):
        resolved = resolve(spec, env)
        try:
            files, hints, namespace = service_documents(resolved)
            base = f"{APPS}/{env}/{spec.name}"
            for name, docs in files.items():
                file = f"{base}/{name}"
                text = render_text(docs)
                parse_back(file, text, docs)
                result.files[file] = text
        except RenderValueError as e:
            result.findings.append(error("render-value", spec.file, 1, 1, f"{env}: {e}",
                                         "Remove the character or shorten the key."))
            continue
        except RenderCheckError as e:
            result.findings.append(error("render-check", spec.file, 1, 1, f"{env}: {e}",
                                         "This is a bug in rollouts render: please report it with the spec."))
            continue
        result.services[f"{env}/{spec.name}"] = namespace
        for key, pointers in hints.items():
            origins.add(key, (path, spec.file, env, pointers))
        if progress is not None:
            progress(done, total)
    if not result.ok:
        result.files = {}
        return result
    if services is None:
        for file, docs in infrastructure(project.environments, options).items():
            text = render_text(docs)
            parse_back(file, text, docs)
            result.files[file] = text
    if result.complete:
        result.files.update(derived_files(result.services, project.environments))
    result.files = dict(sorted(result.files.items()))
    return result


def _load(project: Project, specs: list[Spec] | None, services: list[str] | None,
          result: RenderResult) -> list[Spec]:
    if specs is not None:
        return [s for s in specs if services is None or s.name in services]
    from generator.project import discover
    from generator.render.fastload import load_and_lint

    paths, found = discover(project)
    result.findings += found
    loaded = []
    for path in paths:
        if services is not None and os.path.basename(os.path.dirname(path)) not in services:
            # a quick filter by directory; the name check below decides
            spec_name = _peek_name(path)
            if spec_name not in services:
                continue
        spec, findings = load_and_lint(project, path)
        result.findings += findings
        if spec is not None:
            loaded.append(spec)
    return loaded


def _peek_name(path: str) -> str:
    from generator.render.fastload import fast_spec

    spec = fast_spec(path, path)
    return spec.name if spec is not None else ""


def derived_files(services: dict[str, str], environments: tuple[str, ...]) -> dict[str, str]:
    """Files that depend on the whole set of services: each environment's namespaces and index, the apps index,
    and the top-level kustomization.yaml."""
    from generator.render.engine import parse_back, render_text
    from generator.render.model import kustomization, namespace_doc

    out: dict[str, Any] = {}
    for env in environments:
        names = sorted(k.split("/", 1)[1] for k in services if k.split("/", 1)[0] == env)
        namespaces = sorted({services[f"{env}/{n}"] for n in names})
        for ns in namespaces:
            out[f"{APPS}/{env}/namespaces/{ns}.yaml"] = [namespace_doc(ns, env)]
        out[f"{APPS}/{env}/namespaces/kustomization.yaml"] = [kustomization([f"{ns}.yaml" for ns in namespaces])]
        out[f"{APPS}/{env}/kustomization.yaml"] = [kustomization(["namespaces", *names])]
    out[f"{APPS}/kustomization.yaml"] = [kustomization(list(environments))]
    out["flux/kustomization.yaml"] = [kustomization(["apps", "bootstrap", "infrastructure"])]
    texts = {}
    for file, docs in out.items():
        text = render_text(docs)
        parse_back(file, text, docs)
        texts[file] = text
    return texts


def write_tree(project: Project, result: RenderResult, out_dir: str = "flux") -> None:
    """Write the result into ``out_dir`` atomically; delete only files a previous render owned."""
    from generator.render.tree import write

    write(project, result, out_dir)


def check_tree(project: Project, result: RenderResult, out_dir: str = "flux") -> tuple[list[Finding], str]:
    """Compare the result with ``out_dir``: findings for each drifted file and the unified diff."""
    from generator.render.tree import check

    return check(project, result, out_dir)
