"""``rollouts render``: services/*/rollouts.yaml -> the flux/ tree Flux reconciles and Flagger runs on Linkerd.

Public API (returns results, never prints): :func:`render`, :func:`write_tree`, :func:`check_tree`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..findings import Finding
from ..project import Project
from ..spec.load import Spec
from . import stages
from .cache import RenderCache
from .options import RenderOptions, options_from_project
from .result import RenderResult
from .tree import check, write

__all__ = ["RenderCache", "RenderOptions", "RenderResult", "check_tree", "options_from_project", "render",
           "write_tree"]


def render(project: Project, specs: list[Spec] | None = None, environments: list[str] | None = None,
           services: list[str] | None = None, options: RenderOptions | None = None, *,
           progress: Callable[[int, int], None] | None = None, cache: RenderCache | None = None,
           check_against: str | None = None) -> RenderResult:
    """Render the project (or the given, already linted ``specs``), limited to ``environments``/``services``.

    Lint errors stop the render: the result then has findings and no files. Every rendered file is parsed back
    and checked, unless the render is a check (``check_against``): ``render --check`` writes nothing, so it only
    compares text.
    With a ``cache`` (see :mod:`generator.render.cache`), specs whose output is already in the tree are skipped
    (their objects then have no ``origins``: callers that map findings back pass no cache).
    With ``check_against`` (``render --check``: a tree), each spec's files are compared with that tree where they
    are rendered, in the worker processes; identical files count as read from it, so the check reads only the rest.

    The stages (:mod:`generator.render.stages`): discover the spec files, take what the cache has, execute the
    rest (lint and render, in the worker pool), assemble the result with the infrastructure.
    """
    options = options or options_from_project(project)
    result = stages.start(project, options, specs, environments, services)
    job = stages.job(project, environments, check_against, cache)
    if specs is not None:
        chosen = [s for s in specs if services is None or s.name in services]
        units = [stages.render_spec(job, s, os.path.join(project.root, s.file)) for s in chosen]
    else:
        paths = stages.discover(project, services, result)
        found, keys = stages.from_cache(cache, project, paths)
        todo = [p for p in paths if p not in found]
        rendered = stages.execute(job, todo, progress, done=len(found), total=len(paths))
        stages.store(cache, job, keys, rendered)
        found.update(rendered)
        units = [found[p] for p in paths]
    if cache is not None:
        result.tree_dir = cache.out
    elif job.compare is not None:
        result.tree_dir = job.compare
    return stages.assemble(job, options, units, services, result)


def write_tree(project: Project, result: RenderResult, out_dir: str = "flux") -> None:
    """Write the result into ``out_dir`` atomically; delete only files a previous render owned."""
    write(project, result, out_dir)


def check_tree(project: Project, result: RenderResult, out_dir: str = "flux", *,
               diff_in_findings: bool = False) -> tuple[list[Finding], str]:
    """Compare the result with ``out_dir``: findings for each drifted file and the unified diff (also in each
    finding's message with ``diff_in_findings``)."""
    return check(project, result, out_dir, diff_in_findings=diff_in_findings)
