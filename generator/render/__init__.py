"""``rollouts render``: services/*/rollouts.yaml -> the flux/ tree Flux reconciles and Flagger runs on Linkerd.

Public API (returns results, never prints): :func:`render`, :func:`write_tree`, :func:`check_tree`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ..findings import Finding, Severity, error
from ..project import PLACEHOLDER_REPOSITORY, Project
from ..spec.load import Spec
from .cache import RenderCache
from .derived import APPS, derived_files
from .options import RenderOptions, options_from_project
from .origins import Origins
from .result import RenderResult
from .tree import check, write

if TYPE_CHECKING:
    from ..spec.types import Resolved

__all__ = ["RenderCache", "RenderOptions", "RenderResult", "check_tree", "options_from_project", "render",
           "write_tree"]


def render(project: Project, specs: list[Spec] | None = None, environments: list[str] | None = None,
           services: list[str] | None = None, options: RenderOptions | None = None,
           progress: Callable[[int, int], None] | None = None, parse_back: bool = True,
           cache: RenderCache | None = None, compare_dir: str | None = None) -> RenderResult:
    """Render the project (or the given, already linted ``specs``), limited to ``environments``/``services``.

    Lint errors stop the render: the result then has findings and no files. Every rendered file is parsed back
    and checked, unless ``parse_back`` is False: ``render --check`` writes nothing, so it only compares text.
    With a ``cache`` (see :mod:`generator.render.cache`), specs whose output is already in the tree are skipped
    (their objects then have no ``origins``: callers that map findings back pass no cache).
    With ``compare_dir`` (``render --check``), each spec's files are compared with that tree where they are
    rendered, in the worker processes; identical files count as read from it, so the check reads only the rest.
    """
    from .builders import infrastructure
    from .engine import parse_back as check_file
    from .engine import render_text

    options = options or options_from_project(project)
    result = RenderResult(complete=environments is None and services is None)
    result.findings += project.findings
    if options.repo_url == PLACEHOLDER_REPOSITORY:  # the project file sets no render.repository (if there is one)
        result.findings += project.render_findings
    origins = Origins()
    for given in specs or []:
        origins.know(os.path.join(project.root, given.file), given)
    result.origins = origins
    envs = tuple(e for e in project.environments if environments is None or e in environments)
    for wanted in environments or []:
        if wanted not in project.environments:
            result.findings.append(error("render-unknown-environment", "rollouts.project.yaml", 0, 0,
                                         f"environment {wanted!r} is not one of the project's: "
                                         f"{', '.join(project.environments)}"))
    compare = os.path.abspath(os.path.join(project.root, compare_dir)) if compare_dir else None
    if cache is not None and compare is not None and cache.out != compare:
        compare = None  # from_tree describes one tree only
    units = _units(project, specs, services, envs, result, progress, parse_back, cache, compare)
    if cache is not None:
        result.tree_dir = cache.out
    elif compare is not None:
        result.tree_dir = compare
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
    if result.complete:
        result.scope = ["flux/"]
    elif services is None:
        result.scope = [f"{APPS}/{e}/" for e in envs]
    else:
        result.scope = [f"{APPS}/{e}/{s}/" for e in envs for s in services]
    for unit in units:
        for env, files, hints, namespace in unit.outputs:
            result.files.update(files)
            if unit.cached:
                result.from_tree.update(files)
            else:
                result.from_tree.update(unit.same)
            result.services[f"{env}/{unit.name}"] = namespace
            for key, pointers in hints.items():
                origins.add(key, (unit.path, unit.display, env, pointers))
    if services is None:
        for file, docs in infrastructure(project.environments, options).items():
            text = render_text(docs)
            check_file(file, text, docs)
            result.files[file] = text
    if result.complete:
        result.files.update(derived_files(result.services, project.environments))
    result.files = dict(sorted(result.files.items()))
    return result


Output = tuple[str, dict[str, str], dict[str, Any], str]  # environment, files, origin hints, namespace


@dataclass
class _Unit:
    """One spec: its lint findings and, when clean, its files in each environment."""

    path: str
    display: str
    name: str = ""
    findings: list[Finding] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    cached: bool = False
    same: set[str] = field(default_factory=set)  # files found identical in the compared tree


def _render_spec(spec: Spec, path: str, envs: tuple[str, ...], check: bool = True,
                 default_envs: tuple[str, ...] = ()) -> _Unit:
    from ..spec.resolve import environments as spec_environments
    from ..spec.resolve import resolve
    from .builders import service_documents
    from .engine import RenderCheckError, parse_back, render_text
    from .safe import RenderValueError

    unit = _Unit(path, spec.file, spec.name)
    for env in spec_environments(spec, default_envs or None):
        if env not in envs:
            continue
        try:
            files, hints, namespace = service_documents(cast("Resolved", resolve(spec, env)))
            base = f"{APPS}/{env}/{spec.name}"
            texts = {}
            for name, docs in files.items():
                file = f"{base}/{name}"
                text = render_text(docs)
                if check:
                    parse_back(file, text, docs)
                texts[file] = text
        except RenderValueError as e:
            unit.findings.append(error("render-value", spec.file, 1, 1, f"{env}: {e}",
                                       "Remove the character or shorten the key."))
            continue
        except RenderCheckError as e:
            unit.findings.append(error("render-check", spec.file, 1, 1, f"{env}: {e}",
                                       "This is a bug in rollouts render: please report it with the spec."))
            continue
        unit.outputs.append((env, texts, hints, namespace))
    return unit


# (project, environments, parse back, tree to compare with): set before forking workers, inherited by them
_WORKER: tuple[Project, tuple[str, ...], bool, str | None] | None = None
PARALLEL_FROM = 64  # specs; fewer render in-process (pre-commit stays fast)


def _work(path: str) -> _Unit:
    from .fastload import load_and_lint

    assert _WORKER is not None
    project, envs, check, compare = _WORKER
    spec, findings = load_and_lint(project, path)
    if spec is None:
        return _Unit(path, project.relative(path), findings=findings)
    if any(f.severity is Severity.ERROR for f in findings):
        return _Unit(path, spec.file, spec.name, findings=findings)
    unit = _render_spec(spec, path, envs, check, project.environments)
    unit.findings = findings + unit.findings
    if compare is not None:
        unit.same = {file for _, texts, _, _ in unit.outputs for file, text in texts.items()
                     if _same_text(os.path.join(compare, file[len("flux/"):]), text)}
    return unit


def _same_text(path: str, text: str) -> bool:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.read() == text
    except (OSError, UnicodeDecodeError):
        return False


def _units(project: Project, specs: list[Spec] | None, services: list[str] | None, envs: tuple[str, ...],
           result: RenderResult, progress: Callable[[int, int], None] | None, check: bool,
           cache: RenderCache | None = None, compare: str | None = None) -> list[_Unit]:
    global _WORKER
    if specs is not None:
        chosen = [s for s in specs if services is None or s.name in services]
        return [_render_spec(s, os.path.join(project.root, s.file), envs, check, project.environments)
                for s in chosen]
    from ..project import discover

    paths, found = discover(project)
    result.findings += found
    if services is not None:
        paths = [p for p in paths if os.path.basename(os.path.dirname(p)) in services
                 or _peek_name(p) in services]
    _WORKER = (project, envs, check, compare)
    total = len(paths)
    found_units: dict[str, _Unit] = {}
    keys: dict[str, str] = {}
    if cache is not None:
        for path in paths:
            display = project.relative(path)
            try:
                with open(path, "rb") as fh:
                    keys[path] = cache.key(display, fh.read())
            except OSError:
                continue
            hit = cache.lookup(keys[path])
            if hit is not None:
                found_units[path] = _Unit(path, display, hit[0], outputs=hit[1], cached=True)
    todo = [p for p in paths if p not in found_units]
    done = len(found_units)
    workers = min(os.cpu_count() or 1, 4)
    if len(todo) < PARALLEL_FROM or workers < 2 or not _can_fork():
        for path in todo:
            found_units[path] = _work(path)
            done += 1
            if progress is not None:
                progress(done, total)
    else:
        import multiprocessing

        # the first spec in this process: its imports, compiled templates and schema are then inherited by
        # every forked worker instead of being built again in each
        found_units[todo[0]] = _work(todo[0])
        done += 1
        rest = todo[1:]
        chunk = max(1, min(64, len(rest) // (workers * 4)))
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for path, unit in zip(rest, pool.imap(_work, rest, chunksize=chunk), strict=True):
                found_units[path] = unit
                done += 1
                if progress is not None:
                    progress(done, total)
    if cache is not None and check:  # only output that was parsed back and checked is cached
        for path in todo:
            unit = found_units[path]
            if path in keys and not unit.findings and unit.outputs:
                cache.store(keys[path], unit.name, unit.outputs)
    return [found_units[p] for p in paths]


def _can_fork() -> bool:
    """Fork workers only from a single-threaded process (forking with threads running can deadlock)."""
    import multiprocessing
    import threading

    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def _peek_name(path: str) -> str:
    from .fastload import fast_spec

    spec = fast_spec(path, path)
    return spec.name if spec is not None else ""


def write_tree(project: Project, result: RenderResult, out_dir: str = "flux") -> None:
    """Write the result into ``out_dir`` atomically; delete only files a previous render owned."""
    write(project, result, out_dir)


def check_tree(project: Project, result: RenderResult, out_dir: str = "flux", *,
               diff_in_findings: bool = False) -> tuple[list[Finding], str]:
    """Compare the result with ``out_dir``: findings for each drifted file and the unified diff (also in each
    finding's message with ``diff_in_findings``)."""
    return check(project, result, out_dir, diff_in_findings=diff_in_findings)
