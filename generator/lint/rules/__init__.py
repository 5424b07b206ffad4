"""The semantic rules. One module per rule, each with ``ID``, ``SEVERITY``, ``SUMMARY``, ``REASON`` (why, with
the upstream issue it comes from) and ``check(ctx)`` yielding findings. Listed in ``RULES`` in the order run."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING

from ...findings import Finding
from ...project import Project
from ...spec.load import Path, Spec, path_text
from ...spec.resolve import environments, origin, resolve

if TYPE_CHECKING:
    from ...spec.types import Resolved
    from ...spec.types import Spec as ResolvedSpec

RULES = (
    "ab_test_without_match",
    "canary_without_steps",
    "change_window_order",
    "environment_override_incomplete",
    "flagger_duration_format",
    "freeze_order",
    "probe_flow_invalid",
    "flux_rollback_field_ignored",
    "flux_rollback_without_tests",
    "gate_timeouts",
    "helm_test_without_rbac",
    "image_registry",
    "admission_without_registries",
    "image_tag_mutable",
    "ingress_gateway_networks_missing",
    "ingress_host_collision",
    "ingress_unmeshed_gateway",
    "interval_below_minimum",
    "iterations_required",
    "judge_scores_inverted",
    "judge_window_short",
    "linkerd_unsupported_option",
    "manual_approval_gate_left_open",
    "manual_approval_without_runbook",
    "match_without_ab_test",
    "max_weight_overshoot",
    "metric_bounds_inverted",
    "metric_builtin_name",
    "metric_deployment_label",
    "metric_duplicate_name",
    "metric_not_in_linkerd_viz",
    "metric_ratio_empty_numerator",
    "metric_window_no_data",
    "metric_window_short",
    "metric_without_bounds",
    "min_replicas",
    "name_too_long",
    "no_traffic",
    "notification_url_credentials",
    "probe_header_secret",
    "progress_deadline",
    "provider_gatewayapi_v1",
    "provider_kubernetes_strategy",
    "provider_linkerd_smi",
    "replica_range",
    "replicas_with_autoscaling",
    "rollback_time",
    "rollout_duration",
    "route_timeout_ignored",
    "service_directory_name",
    "service_name_reserved",
    "skip_analysis_in_production",
    "steps_and_step_weight",
    "steps_increasing",
    "strategy_field_ignored",
    "unknown_environment",
    "unknown_time_zone",
)

_LOADED: list[ModuleType] = []


def all_rules() -> list[ModuleType]:
    if not _LOADED:
        _LOADED.extend(importlib.import_module(f".{name}", __package__) for name in RULES)
    return _LOADED


def rule_summaries() -> dict[str, str]:
    return {m.ID: m.SUMMARY for m in all_rules()}


class Context:
    """What a rule sees: the spec with positions, and the resolved spec of each environment."""

    def __init__(self, spec: Spec, project: Project) -> None:
        self.spec = spec
        self.project = project
        self.rule: ModuleType | None = None
        self.environments: dict[str, Resolved] = {
            env: resolve(spec, env) for env in environments(spec, project.environments)}
        self.where: dict[int, str | None] = {}  # id(finding) -> its environment, while the rule runs

    def each(self) -> Iterator[tuple[str, ResolvedSpec]]:
        """Every environment with its resolved ``spec`` (overrides merged, defaults filled)."""
        for env, doc in self.environments.items():
            yield env, doc["spec"]

    def finding(self, env: str | None, path: Path, message: str, hint: str = "", key: bool = False) -> Finding:
        """A finding of the current rule at ``path`` (under ``spec`` when ``env`` is given, else from the root).

        Where the field is set in an environment's override, the finding points there. ``run_rules`` then names the
        environments in the message unless every environment has the same finding."""
        assert self.rule is not None
        if env is None:
            line, col = self.spec.position(path, key=key)
            shown = path_text(path)
        else:
            line, col = origin(self.spec, env, path)
            shown = path_text(("spec", *path))
        found = Finding(self.rule.ID, self.rule.SEVERITY, self.spec.file, line, col, message, hint, shown)
        self.where[id(found)] = env
        return found


def _name_environments(ctx: Context, found: list[Finding]) -> list[Finding]:
    """One finding per place and message; prefixed with ``[env, ...]`` unless it holds in every environment."""
    groups: dict[tuple[str, int, int, str], tuple[Finding, list[str | None]]] = {}
    for f in found:
        key = (f.rule, f.line, f.column, f.message)
        groups.setdefault(key, (f, []))[1].append(ctx.where.get(id(f)))
    out = []
    every = set(ctx.environments)
    for f, envs in groups.values():
        named = [e for e in dict.fromkeys(envs) if e is not None]
        if named and set(named) != every:
            f = f._replace(message=f"[{', '.join(named)}] {f.message}")
        out.append(f)
    return out


def run_rules(spec: Spec, project: Project) -> list[Finding]:
    """Run every rule on a spec the schema accepts (``lint_spec`` removes what it rejects first).

    A rule that raises has a bug: the exception propagates (the CLI reports an internal error), never a finding."""
    ctx = Context(spec, project)
    out: list[Finding] = []
    for module in all_rules():
        ctx.rule = module
        out.extend(_name_environments(ctx, list(module.check(ctx))))
        ctx.where.clear()
    return out
