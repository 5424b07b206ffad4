"""``rollouts check``: lint, render, render check (the committed tree equals the render) and validate, in one run;
and the validate stage that ``rollouts commit`` runs too.

What is validated is the fresh render, so a finding on a spec line is about the spec as it is now. When the
committed tree has drifted from the render, the fresh render is written onto a temporary copy of it and validated
there; the committed tree's drift is reported file by file (``render-drift``), and a problem found only in a
drifted committed file is reported on that file, saying it is stale, never on the spec line that no longer makes it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..catalog import find_catalog
from ..findings import Finding
from ..project import Project
from ..render import RenderResult, check_tree
from ..stages import StageResult, findings_of, lint_and_render, shown_as, write_onto
from . import validate
from .manifests import OriginsArg


@dataclass(frozen=True)
class ValidateSettings:
    """How to validate: the options of ``rollouts validate`` (and of check, commit and pipeline)."""

    schema_dir: str | None = None
    skip_kinds: tuple[str, ...] = ()
    promql: bool = True
    kustomize: bool = True
    engine: str = "auto"
    cache_dir: str | None = None


def validate_stage(project: Project, tree: str, origins: OriginsArg, settings: ValidateSettings,
                   shown: str | None = None) -> StageResult:
    """Validate ``tree``; findings on its files are named under ``shown`` (the tree as the user knows it, when
    ``tree`` is a temporary copy)."""
    findings = validate(project, tree, origins=origins, schema_dir=settings.schema_dir,
                        skip_kinds=settings.skip_kinds, promql=settings.promql, kustomize=settings.kustomize,
                        engine=settings.engine, cache_dir=settings.cache_dir)
    if shown is not None:
        findings = shown_as(findings, tree if os.path.isabs(tree) else os.path.join(project.root, tree), shown)
    checks = ["kubeconform", *(["PromQL"] if settings.promql else []), *(["kustomize"] if settings.kustomize else [])]
    skips = f"; kinds not schema-checked: {', '.join(settings.skip_kinds)}" if settings.skip_kinds else ""
    detail = f"{' + '.join(checks)}, catalog {find_catalog(project.root, settings.schema_dir)}{skips}"
    return StageResult("validate", findings, detail)


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    diff: str = ""
    stages: list[StageResult] = field(default_factory=list)


def check(project: Project, tree_dir: str = "flux", schema_dir: str | None = None, skip_kinds: Iterable[str] = (),
          *, promql: bool = True, kustomize: bool = True, engine: str = "auto",
          cache_dir: str | None = None) -> CheckResult:
    settings = ValidateSettings(schema_dir, tuple(skip_kinds), promql, kustomize, engine, cache_dir)
    tree = tree_dir if os.path.isabs(tree_dir) else os.path.join(project.root, tree_dir)
    rendered = lint_and_render(project)
    result = CheckResult(stages=rendered.stages)
    if not rendered.ok:  # nothing fresh to validate: the committed tree is all there is (findings on its files)
        if os.path.isdir(tree):
            result.stages.append(validate_stage(project, tree, None, settings))
    else:
        drift, result.diff = check_tree(project, rendered.result, out_dir=tree_dir)
        rendered.render.findings += drift
        origins = rendered.result.origins
        if not drift:  # the committed tree is the fresh render
            result.stages.append(validate_stage(project, tree, origins, settings))
        else:
            result.stages.append(_validate_drifted(project, rendered.result, tree, drift, settings))
    result.findings = sorted(set(findings_of(result.stages)), key=Finding.sort_key)
    return result


def _validate_drifted(project: Project, rendered: RenderResult, tree: str, drift: list[Finding],
                      settings: ValidateSettings) -> StageResult:
    """The fresh render validated on a temporary copy of ``tree``; then ``tree`` itself, keeping only what is
    wrong in its drifted files and not in the fresh render."""
    shown = project.relative(tree)
    with tempfile.TemporaryDirectory(prefix="rollouts-check-") as work:
        fresh_tree = write_onto(project, rendered, tree, work)
        fresh = validate_stage(project, fresh_tree, rendered.origins, settings, shown=shown)
    drifted = {_in_tree(project, f.file, tree) for f in drift}
    drifted = {rel for rel in drifted if os.path.isfile(os.path.join(tree, rel))}
    if not drifted:  # only files the committed tree lacks: nothing stale to look at
        return fresh
    seen = {(f.rule, f.resource, f.path) for f in fresh.findings}
    committed = validate_stage(project, tree, None, settings)
    for f in committed.findings:
        if _in_tree(project, f.file, tree) in drifted and (f.rule, f.resource, f.path) not in seen:
            fresh.findings.append(f._replace(
                message=f"{f.message} (in the committed file, which is stale: the fresh render does not have this)",
                hint="Run `rollouts render` and commit the result."))
    return fresh


def _in_tree(project: Project, file: str, tree: str) -> str:
    """``file`` (as a finding names it) relative to ``tree``."""
    absolute = file if os.path.isabs(file) else os.path.join(project.root, file)
    return os.path.relpath(absolute, tree).replace(os.sep, "/")
