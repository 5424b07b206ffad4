"""``rollouts check``: lint, render check (the committed tree equals the render) and validate, in one run."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..findings import Finding, Severity
from ..project import Project


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    diff: str = ""


def check(project: Project, tree_dir: str = "flux", schema_dir: str | None = None, skip_kinds: Iterable[str] = (),
          *, promql: bool = True, kustomize: bool = True, engine: str = "auto",
          cache_dir: str | None = None) -> CheckResult:
    from ..lint import lint
    from . import validate

    result = CheckResult()
    linted = lint(project, [])
    result.findings += linted.findings
    origins = None
    try:
        import importlib

        renderer = importlib.import_module("..render", __package__)
        render, check_tree = renderer.render, renderer.check_tree
    except (ImportError, AttributeError):
        result.findings.append(Finding("render-unavailable", Severity.ERROR, "flux", 0, 0,
                                       "this installation has no renderer (generator.render)",
                                       "Reinstall rollouts."))
    else:
        if not any(f.severity is Severity.ERROR for f in linted.findings):
            rendered = render(project, specs=linted.specs)
            result.findings += rendered.findings
            if not any(f.severity is Severity.ERROR for f in rendered.findings):
                drift, result.diff = check_tree(project, rendered, out_dir=tree_dir)
                result.findings += drift
                origins = rendered.origins
    tree = tree_dir if os.path.isabs(tree_dir) else os.path.join(project.root, tree_dir)
    if os.path.isdir(tree):
        result.findings += validate(project, tree_dir, origins=origins, schema_dir=schema_dir,
                                    skip_kinds=skip_kinds, promql=promql, kustomize=kustomize, engine=engine,
                                    cache_dir=cache_dir)
    result.findings = sorted(set(result.findings), key=Finding.sort_key)
    return result
