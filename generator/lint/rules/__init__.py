"""The semantic rules. One module per rule, each with ``ID``, ``SEVERITY``, ``SUMMARY``, ``REASON`` (why, with
the upstream issue it comes from) and ``check(ctx)`` yielding findings. Listed in ``RULES`` in the order run."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType
from typing import Any, Protocol

from generator.findings import Finding, Severity
from generator.project import Project
from generator.spec.load import Path, Spec, path_text
from generator.spec.resolve import environments, origin, resolve

RULES = (
    "name_too_long",
    "steps_increasing",
)


class Rule(Protocol):
    ID: str
    SEVERITY: Severity
    SUMMARY: str
    REASON: str

    def check(self, ctx: Context) -> Iterable[Finding]: ...


def all_rules() -> list[ModuleType]:
    return [importlib.import_module(f"generator.lint.rules.{name}") for name in RULES]


def rule_summaries() -> dict[str, str]:
    return {m.ID: m.SUMMARY for m in all_rules()}


class Context:
    """What a rule sees: the spec with positions, and the resolved spec of each environment."""

    def __init__(self, spec: Spec, project: Project) -> None:
        self.spec = spec
        self.project = project
        self.rule: ModuleType | None = None
        self.environments: dict[str, dict[str, Any]] = {env: resolve(spec, env) for env in environments(spec)}

    def finding(self, env: str | None, path: Path, message: str, hint: str = "", key: bool = False) -> Finding:
        """A finding of the current rule at ``path`` (under ``spec`` when ``env`` is given, else from the root).

        When the field comes from an environment override, the message says which environment."""
        assert self.rule is not None
        if env is None:
            line, col = self.spec.position(path, key=key)
            shown = path_text(path)
        else:
            line, col = origin(self.spec, env, path)
            overridden = self.spec.get(("spec", "environments", env, *path)) is not None
            shown = path_text(("spec", *path))
            if overridden:
                message = f"[{env}] {message}"
        return Finding(self.rule.ID, self.rule.SEVERITY, self.spec.file, line, col, message, hint, shown)


def run_rules(spec: Spec, project: Project, schema_findings: list[Finding]) -> list[Finding]:
    """Run every rule. A rule that trips over a value the schema already reported is skipped, not crashed."""
    ctx = Context(spec, project)
    out: list[Finding] = []
    for module in all_rules():
        ctx.rule = module
        try:
            out.extend(module.check(ctx))
        except (TypeError, ValueError, KeyError, AttributeError):
            if not schema_findings:
                raise
    return out

