"""The stages of one render: discover the specs, take what the cache already has, execute the rest (in the worker
pool), assemble the result. :func:`generator.render.render` runs them in that order."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

from ..findings import Finding, Severity, error
from ..lint import load_and_lint
from ..lint.fastload import fast_spec
from ..project import PLACEHOLDER_REPOSITORY, Project
from ..project import discover as discover_specs
from ..spec.load import Spec
from ..spec.resolve import environments as spec_environments
from ..spec.resolve import resolve
from . import pool
from .builders import infrastructure, service_documents, service_facts
from .builders.develop import DEMO
from .builders.develop import RUNBOOK_FILE as DEVELOP_RUNBOOK
from .cache import Output, RenderCache
from .derived import APPS, derived_files
from .engine import RenderCheckError, parse_back, render_text
from .infra import object_name
from .model import namespace_for
from .options import RenderOptions
from .origins import Origins
from .plan import plan
from .result import RenderResult
from .runbook import PLATFORM_FILE, platform_runbook, service_runbook
from .safe import RenderValueError

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Job:
    """What every spec of one render is rendered with (the pool's workers inherit it): the project, the
    environments rendered, whether each file is parsed back, and the tree (absolute) each file is compared with."""

    project: Project
    environments: tuple[str, ...]
    parse_back: bool = True
    compare: str | None = None


@dataclass
class Unit:
    """One spec: its lint findings and, when clean, its files in each environment."""

    path: str
    display: str
    name: str = ""
    findings: list[Finding] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    cached: bool = False
    same: set[str] = field(default_factory=set)  # files found identical in the compared tree


def start(project: Project, options: RenderOptions, specs: list[Spec] | None, environments: list[str] | None,
          services: list[str] | None) -> RenderResult:
    """An empty result with the project's findings, the given specs known to the origins, and a finding for each
    environment the project does not have."""
    result = RenderResult(complete=environments is None and services is None)
    result.findings += project.findings
    if options.repo_url == PLACEHOLDER_REPOSITORY:  # the project file sets no render.repository (if there is one)
        result.findings += project.render_findings
    origins = Origins()
    for given in specs or []:
        origins.know(os.path.join(project.root, given.file), given)
    result.origins = origins
    for wanted in environments or []:
        if wanted not in project.environments:
            result.findings.append(error("render-unknown-environment", "rollouts.project.yaml", 0, 0,
                                         f"environment {wanted!r} is not one of the project's: "
                                         f"{', '.join(project.environments)}"))
    return result


def job(project: Project, environments: list[str] | None, check_against: str | None,
        cache: RenderCache | None) -> Job:
    envs = tuple(e for e in project.environments if environments is None or e in environments)
    compare = os.path.abspath(os.path.join(project.root, check_against)) if check_against else None
    if cache is not None and compare is not None and cache.out != compare:
        compare = None  # from_tree describes one tree only
    return Job(project, envs, parse_back=check_against is None, compare=compare)


def discover(project: Project, services: list[str] | None, result: RenderResult) -> list[str]:
    """The spec files to render (all, or those of ``services``: by folder name, or by metadata.name)."""
    paths, found = discover_specs(project)
    result.findings += found
    if services is not None:
        paths = [p for p in paths if os.path.basename(os.path.dirname(p)) in services
                 or _peek_name(p) in services]
    return paths


def from_cache(cache: RenderCache | None, project: Project, paths: list[str]) -> tuple[dict[str, Unit], dict[str, str]]:
    """The units the cache has whole in the tree, by path, and every readable spec's cache key."""
    hits: dict[str, Unit] = {}
    keys: dict[str, str] = {}
    if cache is None:
        return hits, keys
    for path in paths:
        display = project.relative(path)
        try:
            with open(path, "rb") as fh:
                keys[path] = cache.key(display, fh.read())
        except OSError:
            continue
        hit = cache.lookup(keys[path])
        if hit is not None:
            hits[path] = Unit(path, display, hit[0], outputs=hit[1], cached=True)
    return hits, keys


def execute(job: Job, paths: list[str], progress: Progress | None = None, done: int = 0,
            total: int = 0) -> dict[str, Unit]:
    """Lint and render each spec file, in the worker pool; ``progress(done, total)`` after each."""
    units: dict[str, Unit] = {}
    for path, unit in zip(paths, pool.imap(partial(work, job), paths), strict=True):
        units[path] = unit
        done += 1
        if progress is not None:
            progress(done, total)
    return units


def store(cache: RenderCache | None, job: Job, keys: dict[str, str], units: dict[str, Unit]) -> None:
    """Keep in the cache what was rendered clean (and parsed back and checked: only such output is cached)."""
    if cache is None or not job.parse_back:
        return
    for path, unit in units.items():
        if path in keys and not unit.findings and unit.outputs:
            cache.store(keys[path], unit.name, unit.outputs)


def work(job: Job, path: str) -> Unit:
    """One spec file: load and lint it; when clean, render it (and compare its files with the tree)."""
    project = job.project
    spec, findings = load_and_lint(project, path)
    if spec is None:
        return Unit(path, project.relative(path), findings=findings)
    if any(f.severity is Severity.ERROR for f in findings):
        return Unit(path, spec.file, spec.name, findings=findings)
    unit = render_spec(job, spec, path)
    unit.findings = findings + unit.findings
    if job.compare is not None:
        unit.same = {file for _, texts, _, _, _ in unit.outputs for file, text in texts.items()
                     if _same_text(os.path.join(job.compare, file[len("flux/"):]), text)}
    return unit


def render_spec(job: Job, spec: Spec, path: str) -> Unit:
    """One linted spec, in each of its environments that the job renders."""
    unit = Unit(path, spec.file, spec.name)
    raw = _spec_bytes(path, spec)
    for env in spec_environments(spec, job.project.environments or None):
        if env not in job.environments:
            continue
        try:
            resolved = resolve(spec, env)
            files, hints, namespace = service_documents(resolved)
            facts = service_facts(resolved, raw)
            base = f"{APPS}/{env}/{spec.name}"
            texts = {}
            for name, docs in files.items():
                file = f"{base}/{name}"
                text = render_text(docs)
                if job.parse_back:
                    parse_back(file, text, docs)
                texts[file] = text
            kustomization = object_name(f"apps-{env}-{spec.name}")
            texts[f"{base}/RUNBOOK.md"] = service_runbook(plan(resolved), namespace, kustomization, spec.file,
                                                        str(resolved["metadata"].get("owner", "")))
        except RenderValueError as e:
            unit.findings.append(error("render-value", spec.file, 1, 1, f"{env}: {e}",
                                       "Remove the character or shorten the key."))
            continue
        except RenderCheckError as e:
            unit.findings.append(error("render-check", spec.file, 1, 1, f"{env}: {e}",
                                       "This is a bug in rollouts render: please report it with the spec."))
            continue
        unit.outputs.append((env, texts, hints, namespace, facts))
    return unit


def assemble(job: Job, options: RenderOptions, units: Iterable[Unit], services: list[str] | None,
             result: RenderResult) -> RenderResult:
    """The result: every unit's findings (and a finding for each duplicate or unknown service); when clean, the
    files of the services, the infrastructure and the files derived from the set of services, sorted by path."""
    units = list(units)
    seen: dict[str, str] = {}
    for unit in units:
        result.findings += unit.findings
        if unit.name in seen:
            result.findings.append(error("render-duplicate-service", unit.display, 1, 1,
                                         f"service {unit.name!r} is also defined in {seen[unit.name]}",
                                         "Give each service its own metadata.name."))
        seen.setdefault(unit.name, unit.display)
    for name in services or []:
        if name not in seen:
            result.findings.append(error("render-unknown-service", "services", 0, 0,
                                         f"no services/*/rollouts.yaml has metadata.name {name!r}"))
    if not result.ok:
        return result
    project = job.project
    if result.complete:
        result.scope = ["flux/"]
    elif services is None:
        result.scope = [f"{APPS}/{e}/" for e in job.environments]
    else:
        result.scope = [f"{APPS}/{e}/{s}/" for e in job.environments for s in services]
    origins = cast(Origins, result.origins)
    for unit in units:
        for env, files, hints, namespace, facts in unit.outputs:
            result.files.update(files)
            result.facts[f"{env}/{unit.name}"] = facts
            result.from_tree.update(files if unit.cached else unit.same)
            result.services[f"{env}/{unit.name}"] = namespace
            for key, pointers in hints.items():
                origins.add(key, (unit.path, unit.display, env, pointers))
    if services is None:
        for file, docs in infrastructure(project.environments, options).items():
            text = render_text(docs)
            parse_back(file, text, docs)
            result.files[file] = text
    if result.complete:
        result.files[f"flux/infrastructure/{PLATFORM_FILE}"] = platform_runbook(sorted(set(result.services.values())))
        if options.develop:
            demo: Any = DEMO
            result.files[DEVELOP_RUNBOOK] = service_runbook(
                plan(demo), namespace_for(demo["metadata"]["namespace"], demo["environment"]), "develop",
                "the develop pack (render: {develop: true})", demo["metadata"]["owner"])
        result.files.update(derived_files(result.services, project.environments, project, facts=result.facts,
                                          options=options))
    result.files = dict(sorted(result.files.items()))
    return result


def _spec_bytes(path: str, spec: Spec) -> bytes:
    """The spec file's bytes (what its digest in the controller config and the signed bundle is of)."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return spec.text.encode("utf-8")


def _same_text(path: str, text: str) -> bool:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.read() == text
    except (OSError, UnicodeDecodeError):
        return False


def _peek_name(path: str) -> str:
    spec = fast_spec(path, path)
    return spec.name if spec is not None else ""
