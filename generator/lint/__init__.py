"""``rollouts lint``: the spec checked against the schema, then against rules drawn from real Flagger, Linkerd
and Flux pitfalls. Returns findings; never prints."""

from __future__ import annotations

import os
import re

from ..findings import Finding, error
from ..project import Project, discover, outside_repository
from ..spec.load import Spec, load

UNSUPPRESSIBLE = ("schema-", "yaml-", "file-", "suppression-")
SUPPRESS = re.compile(r"#\s*rollouts:\s*ignore\[([a-z0-9,\s-]+)\](.*)$")


class LintResult:
    """The findings of a lint run, and the specs that loaded (render and check reuse them)."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        self.specs: list[Spec] = []


def lint(project: Project, paths: list[str] | None = None) -> LintResult:
    """Lint the given spec files, or every services/*/rollouts.yaml of the project."""
    result = LintResult(findings=list(project.findings))
    if paths:
        files = []
        for path in paths:
            problem = outside_repository(project, path) if _inside(project, path) else ""
            if problem:
                result.findings.append(error("path-outside-repository", project.relative(path), 0, 0, problem,
                                             "Lint files inside the repository only."))
            else:
                files.append(path)
    else:
        files, found = discover(project)
        result.findings += found
    for path in files:
        spec, findings = load(path, project.relative(path))
        if spec is None:
            result.findings += findings
            continue
        result.specs.append(spec)
        result.findings += lint_spec(spec, project)
    return result


def _inside(project: Project, path: str) -> bool:
    """Whether ``path`` as written lies inside the repository (a symlink on the way may still lead out)."""
    root = os.path.abspath(project.root)
    return os.path.commonpath([os.path.abspath(path), root]) == root


def lint_spec(spec: Spec, project: Project) -> list[Finding]:
    from ..spec.schema import check
    from .rules import run_rules

    findings = check(spec)
    if not any(f.rule == "schema-type" and f.path in ("", "spec", "metadata") for f in findings):
        findings += run_rules(spec, project, schema_findings=findings)
    return apply_suppressions(spec, _unique(findings))


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, int, int, str]] = set()
    out = []
    for f in findings:
        key = (f.rule, f.line, f.column, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def apply_suppressions(spec: Spec, findings: list[Finding]) -> list[Finding]:
    """``# rollouts: ignore[rule-id] reason`` on the finding's line or alone on the line above drops it.

    A suppression without a reason does not apply and is itself an error."""
    suppressed: dict[int, set[str]] = {}
    out: list[Finding] = []
    for number, text in enumerate(spec.lines, start=1):
        match = SUPPRESS.search(text)
        if not match:
            continue
        rules = {r.strip() for r in match.group(1).split(",") if r.strip()}
        reason = match.group(2).strip(" -:\u2014")
        if not reason:
            out.append(error("suppression-without-reason", spec.file, number, match.start() + 1,
                             f"ignore[{', '.join(sorted(rules))}] gives no reason",
                             "Say why after the bracket: # rollouts: ignore[rule-id] the reason"))
            continue
        targets = [number + 1] if text[: match.start()].strip() == "" else [number]
        for line in targets:
            suppressed.setdefault(line, set()).update(rules)
    for f in findings:
        if f.rule in suppressed.get(f.line, ()) and not f.rule.startswith(UNSUPPRESSIBLE):
            continue
        out.append(f)
    return out
