"""``rollouts lint``: the spec checked against the schema, then against rules drawn from real Flagger, Linkerd
and Flux pitfalls. Returns findings; never prints."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from ..findings import Finding, error
from ..project import Project, discover, outside_repository
from ..spec.load import Spec, load, path_text
from ..spec.schema import examine
from .fastload import fast_spec
from .rules import all_rules, run_rules

if TYPE_CHECKING:
    from ..spec.schema import Failure

UNSUPPRESSIBLE = ("schema-", "yaml-", "file-", "suppression-")
SUPPRESS = re.compile(r"#\s*rollouts:\s*ignore\[([a-z0-9,\s-]+)\](.*)$")


class LintResult:
    """The findings of a lint run."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings


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
        _, findings = load_and_lint(project, path)  # positions (ruamel) only when there is a finding
        result.findings += findings
    return result


def load_and_lint(project: Project, path: str) -> tuple[Spec | None, list[Finding]]:
    """One spec and its lint findings; exact positions whenever there is a finding."""
    display = project.relative(path)
    spec = fast_spec(path, display)
    if spec is not None and not lint_spec(spec, project):
        return spec, []
    slow, findings = load(path, display)
    if slow is None:
        return None, findings
    return slow, lint_spec(slow, project)


def _inside(project: Project, path: str) -> bool:
    """Whether ``path`` as written lies inside the repository (a symlink on the way may still lead out)."""
    root = os.path.abspath(project.root)
    return os.path.commonpath([os.path.abspath(path), root]) == root


def lint_spec(spec: Spec, project: Project) -> list[Finding]:
    """The schema's findings, then the rules' on what the schema accepted, then the suppressions."""
    verdict = examine(spec)
    owned = {id(f) for _, f in verdict.owned}
    findings = [f for f in verdict.findings if id(f) not in owned]
    usable, removed = _usable(spec, verdict.failures)
    found = run_rules(usable, project) if usable is not None else []
    # a rule's finding in an object whose value the schema rejected depends on it (a bound removed, a list
    # emptied): the schema's finding comes alone, until the value is fixed
    scopes = [_scope(p) for p in removed if p]
    found = [f for f in found if not any(_related(f.path, scope) for scope in scopes)]
    for rule, f in verdict.owned:  # a limit both the schema and a rule state: the rule's finding, else the schema's
        if any(_related(_base_path(f.path), p) for p in removed) or any(
                g.rule == rule and _related(_base_path(f.path), g.path) for g in found):
            continue
        findings.append(f)
    return apply_suppressions(spec, _unique(findings + found))


def _usable(spec: Spec, failures: list[Failure]) -> tuple[Spec | None, list[str]]:
    """The spec without the values the schema rejected (absent values take their defaults), so that rules read
    only what the schema accepts; and where the removed values were (as paths under ``spec``, environments merged).
    None when too little is left to lint (``spec`` or ``metadata`` itself is unusable)."""
    if not failures:
        return spec, []
    import copy

    data = copy.deepcopy(spec.data)
    removed: list[str] = []
    for _ in range(64):  # each round removes at least one node, nearer the root; a document is not this deep
        targets = []
        for failure in failures:
            target = failure.path
            if target == ():
                if failure.missing is None or failure.missing in ("spec", "metadata"):
                    return None, removed
                continue  # apiVersion, kind: the schema's finding says it; no rule reads them
            while target and isinstance(target[-1], int):  # a list loses its items whole, keeping indexes true
                target = target[:-1]
            targets.append(target)
        if not targets:
            break
        before = len(removed)
        for target in sorted(set(targets), key=len):
            parent = _node(data, target[:-1])
            if isinstance(parent, dict) and target[-1] in parent:
                del parent[target[-1]]
                where = _base_path(path_text(target))
                removed.append("" if where == "spec" else where)  # a whole environment: its findings stand
        if len(removed) == before:
            return None, removed  # pragma: no cover - every failure names a node that exists
        failures = examine(Spec(spec.file, spec.text, data)).failures
    return Spec(spec.file, spec.text, data), removed


def _node(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return None
    return data


_ENVIRONMENT = re.compile(r"^spec\.environments\.[^.\[]+(?=[.\[]|$)")


def _base_path(path: str) -> str:
    """``spec.environments.staging.strategy.interval`` -> ``spec.strategy.interval`` (how rules name a field)."""
    return _ENVIRONMENT.sub("spec", path)


def _scope(path: str) -> str:
    """The object holding the field ``path`` (``spec.strategy`` for ``spec.strategy.interval``, ``spec.metrics[0]``
    for ``spec.metrics[0].max``); a section itself (``spec.metrics``) when its parent is the whole spec."""
    parent = re.sub(r"(\.[^.\[]+|\[[0-9]+\])$", "", path)
    return parent if parent.count(".") + parent.count("[") >= 1 else path


def _related(path: str, other: str) -> bool:
    """Whether the field ``path`` is ``other``, inside it, or contains it."""
    if not path or not other:
        return False
    return path == other or path.startswith((other + ".", other + "[")) or other.startswith((path + ".", path + "["))


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
        out += _unknown_ids(spec, number, text, match, rules)
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


def _unknown_ids(spec: Spec, number: int, text: str, match: re.Match[str], rules: set[str]) -> list[Finding]:
    """A suppression naming an id no lint rule has (a typo would silently suppress nothing), or a check that
    cannot be suppressed."""
    known = sorted(m.ID for m in all_rules())
    out = []
    for rule in sorted(rules, key=lambda r: match.group(1).find(r)):
        column = match.start(1) + match.group(1).find(rule) + 1
        if rule.startswith(UNSUPPRESSIBLE):
            out.append(error("suppression-unknown-rule", spec.file, number, column,
                             f"ignore[{rule}]: {rule} is a check of the file or the schema, which cannot be suppressed",
                             "Fix the value instead, and remove this id from the brackets."))
        elif rule not in known:
            import difflib

            close = difflib.get_close_matches(rule, known, n=1, cutoff=0.6)
            hint = (f"Did you mean {close[0]}? Write # rollouts: ignore[{close[0]}] and the reason." if close
                    else "See `rollouts lint --list-rules` for the rule ids.")
            out.append(error("suppression-unknown-rule", spec.file, number, column,
                             f"ignore[{rule}] names no lint rule, so it suppresses nothing", hint))
    return out
