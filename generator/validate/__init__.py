"""Validate a rendered tree: kubeconform on every object, PromQL of every MetricTemplate, kustomize build.

kubeconform runs as one process for the whole tree while PromQL and kustomize are checked; every problem is a
Finding on the rendered file, or on the line of ``rollouts.yaml`` that produced the field when the render's
``origins`` know it (``origins`` may be a callable: it is then called only when there is something to map).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..catalog import find_catalog, kubeconform_template
from ..errors import RolloutsError, ToolMissing
from ..findings import Finding, Severity
from ..project import Project
from . import kubeconform
from .inprocess import validate_tree
from .kustomize import validate_builds
from .manifests import Locator, OriginsArg, tree_files
from .promql import validate_queries


@dataclass
class Validation:
    """What a validate run found, sorted, and how many files the tree holds (what the summary of a clean run
    counts, without walking the tree again)."""

    findings: list[Finding]
    files: int


def validate(project: Project, tree_dir: str = "flux", origins: OriginsArg = None, schema_dir: str | None = None,
             skip_kinds: Iterable[str] = (), *, promql: bool = True, kustomize: bool = True,
             engine: str = "auto", cache_dir: str | None = None,
             progress: Callable[[str], None] | None = None) -> list[Finding]:
    """Every problem in the tree, sorted: :func:`validation`'s findings."""
    return validation(project, tree_dir, origins, schema_dir, skip_kinds, promql=promql, kustomize=kustomize,
                      engine=engine, cache_dir=cache_dir, progress=progress).findings


def validation(project: Project, tree_dir: str = "flux", origins: OriginsArg = None, schema_dir: str | None = None,
               skip_kinds: Iterable[str] = (), *, promql: bool = True, kustomize: bool = True,
               engine: str = "auto", cache_dir: str | None = None,
               progress: Callable[[str], None] | None = None) -> Validation:
    """Every problem in the tree, sorted. ``engine``: kubeconform, python (the in-process fallback), or auto
    (kubeconform when installed, else the fallback with a warning that says so). ``cache_dir``: where successful
    kustomize builds are remembered by the content of their inputs (none by default). The project's
    ``validate.skip`` kinds are skipped as well as ``skip_kinds``. ``progress`` is told the name of each stage
    as it starts."""
    tree = tree_dir if os.path.isabs(tree_dir) else os.path.join(project.root, tree_dir)
    if not os.path.isdir(tree):
        raise RolloutsError(f"no rendered tree at {project.relative(tree)}",
                            "Render it first with `rollouts render`, or pass the tree directory.")
    catalog = find_catalog(project.root, schema_dir)
    skips = tuple(sorted(set(skip_kinds) | set(project.skip_kinds)))
    locator = Locator(project.root, origins)
    findings: list[Finding] = []
    stage = progress or (lambda _: None)

    binary = kubeconform.find_kubeconform() if engine != "python" else None
    if engine == "kubeconform" and binary is None:
        raise ToolMissing("kubeconform is not installed", kubeconform.INSTALL_HINT)
    run = kubeconform.start(tree, kubeconform_template(catalog), skips, binary) if binary else None
    try:
        files = tree_files(tree)  # the one walk of the tree, shared by the checks
        documents: dict[str, list[Any]] = {}  # every file kustomize's check read, for PromQL not to read it again
        if kustomize:
            stage("kustomize build")
            findings += validate_builds(tree, locator, cache_dir=cache_dir, documents=documents, files=files)
        if promql:
            stage("PromQL")
            findings += validate_queries(tree, locator, documents, files)
    except BaseException:
        if run:
            run.process.kill()
            run.process.wait()
        raise
    stage("schemas")
    if run:
        findings += kubeconform.finish(run, locator, catalog)
    else:
        if engine == "auto":
            findings.append(Finding(
                "kubeconform-missing", Severity.WARNING, project.relative(tree), 0, 0,
                "kubeconform is not installed: validated with the in-process fallback (jsonschema-rs, same schemas)",
                kubeconform.INSTALL_HINT))
        findings += validate_tree(tree, catalog, locator, skips, files)
    return Validation(sorted(set(findings), key=Finding.sort_key), len(files))
