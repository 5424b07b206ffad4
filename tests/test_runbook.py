"""The runbooks: every rollouts command in them parses with this CLI for the names of that service (the kubectl
ones are checked against the real kubectl in tests/e2e/test_runbooks.py), and each says what the plan says."""

from __future__ import annotations

from pathlib import Path

import pytest
from rollouts.cli import parse
from rollouts.plan import plan
from rollouts.runbook import platform_runbook, service_runbook
from rollouts.spec.load import load
from rollouts.spec.resolve import environments, resolve

from tests.runbook_commands import commands

ROOT = Path(__file__).resolve().parents[1]


def example_runbooks() -> dict[tuple[str, str], str]:
    out = {}
    for path in sorted((ROOT / "services").glob("*/rollouts.yaml")):
        spec, findings = load(str(path), str(path.relative_to(ROOT)))
        assert spec is not None, findings
        for env in environments(spec, ["production", "staging"]):
            resolved = resolve(spec, env)
            namespace = resolved["metadata"]["namespace"] + ("" if env == "production" else f"-{env}")
            out[(spec.name, env)] = service_runbook(plan(resolved), namespace, f"apps-{env}-{spec.name}",
                                                    spec.file, resolved["metadata"]["owner"])
    return out


@pytest.mark.parametrize(("service", "env"), sorted(example_runbooks()))
def test_every_rollouts_command_parses_for_that_service(service: str, env: str) -> None:
    text = example_runbooks()[(service, env)]
    ran = [c for c in commands(text) if c[0] == "rollouts"]
    assert {c[1] for c in ran} >= {"hold", "release", "approve", "abort", "plan"}
    for command in ran:
        ctx = parse(command[1:])
        assert ctx.params.get("service") in (service, (service,)), command
        assert ctx.params.get("environment", ctx.params.get("env")) in (env, (env,)), command
    assert all(c[0] in ("rollouts", "kubectl") for c in commands(text))


def test_a_runbook_says_what_the_plan_says() -> None:
    text = example_runbooks()[("checkout", "staging")]
    assert text.startswith("# checkout in staging: runbook\n")
    assert "promoted after 3m when every check passes; rolled back 1m after the first failed check, at worst " \
           "2m40s after its first bad request" in text  # interval 30s, threshold 2, 1m window, 10s scrape
    assert "kubectl -n shop-staging get canary checkout --watch" in text
    assert "kubectl -n flux-system patch kustomization apps-staging-checkout --type merge" in text
    assert "| 4 | 2m | Promoting | 50% |" in text  # the plan's tick table


def test_the_platform_runbook_names_each_application_namespace() -> None:
    text = platform_runbook(["shop", "shop-staging"])
    assert "kubectl get namespace shop-staging -o jsonpath='{.metadata.annotations.linkerd\\.io/inject}'" in text
    assert all(c[0] == "kubectl" for c in commands(text))
