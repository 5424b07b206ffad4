"""The runbooks: every rollouts command in them parses with this CLI for the names of that service (the kubectl
ones are checked against the real kubectl in tests/e2e/test_runbooks.py), and each says what the plan says."""

from __future__ import annotations

from pathlib import Path

import pytest
from rollouts.cli import parse
from rollouts.render.runbook import platform_runbook

from tests.runbook_commands import commands

ROOT = Path(__file__).resolve().parents[1]


def example_runbooks() -> dict[tuple[str, str], str]:
    """The runbooks the render wrote into the committed tree (the render --check test keeps them current)."""
    return {(path.parent.name, path.parent.parent.name): path.read_text()
            for path in sorted((ROOT / "flux" / "apps").glob("*/*/RUNBOOK.md"))}


def platform() -> str:
    return (ROOT / "flux" / "infrastructure" / "runbook-linkerd-progressive-delivery.md").read_text()


@pytest.mark.parametrize(("service", "env"), sorted(example_runbooks()))
def test_every_rollouts_command_parses_for_that_service(service: str, env: str) -> None:
    assert len(example_runbooks()) == 8
    text = example_runbooks()[(service, env)]
    ran = [c for c in commands(text) if c[0] == "rollouts"]
    # inventory is released by Flux alone: no analysis controller to hold, release, approve or abort
    expected = {"plan"} if service == "inventory" else {"hold", "release", "approve", "abort", "plan"}
    assert {c[1] for c in ran} == expected
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


def test_a_flux_alone_runbook_watches_the_helm_release_and_its_tests() -> None:
    text = example_runbooks()[("inventory", "staging")]
    assert "rolls back to the last good release when the upgrade or a test fails: at worst 2m after the new " \
           "version's first request; a bad version is released once in all" in text  # (1 + 1 test) x 1m
    assert "kubectl -n shop-staging get helmrelease inventory --watch" in text
    assert "kubectl -n shop-staging logs inventory-test-stock-api" in text
    assert "canary" not in text.lower().replace("no canary", "")


def test_the_platform_runbook_names_each_application_namespace() -> None:
    text = platform()
    assert text == platform_runbook(["billing", "billing-staging", "shop", "shop-staging"])
    assert "kubectl get namespace shop-staging -o jsonpath='{.metadata.annotations.linkerd\\.io/inject}'" in text
    assert all(c[0] == "kubectl" for c in commands(text))
