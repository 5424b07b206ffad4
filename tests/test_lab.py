"""docs/lab.md: every command in it is one the learner can run as written: a make target of the Makefile, a rollouts
command that parses with this CLI for the lab's services, or a kubectl command on the lab's namespace (parsed by the
real kubectl in tests/e2e/test_lab.py)."""

from __future__ import annotations

import re
from pathlib import Path

from rollouts.cli import parse

from tests.e2e.lab import DEMOS, INTERVAL_ENV, KEEP_ENV
from tests.runbook_commands import commands

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "docs" / "lab.md"
SETTINGS = (INTERVAL_ENV, KEEP_ENV)  # what a command may set before make


def lab_commands() -> list[list[str]]:
    return commands(LAB.read_text(encoding="utf-8"))


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return {name for line in re.findall(r"^([\w. -]+):(?!=)", text, re.M) for name in line.split()}


def without_settings(command: list[str]) -> list[str]:
    """The command after its leading VAR=value assignments, which must be the lab's settings."""
    while command and "=" in command[0] and not command[0].startswith("-"):
        assert command[0].split("=")[0] in SETTINGS, command
        command = command[1:]
    return command


def test_every_command_of_the_lab_is_make_rollouts_or_kubectl() -> None:
    found = [without_settings(c) for c in lab_commands()]
    assert {c[0] for c in found} == {"make", "rollouts", "kubectl"}, found


def test_every_demo_has_a_make_target_and_the_lab_runs_each() -> None:
    targets = makefile_targets()
    made = [c[1:] for c in map(without_settings, lab_commands()) if c[0] == "make"]
    assert all(len(args) == 1 and args[0] in targets for args in made), made
    assert {f"demo-{name}" for name in DEMOS} <= {args[0] for args in made}


def test_every_rollouts_command_parses_for_the_lab_services() -> None:
    services = {(d.service, d.environment) for d in DEMOS.values()}
    ran = [c for c in lab_commands() if c[0] == "rollouts"]
    assert {c[1] for c in ran} >= {"plan"}
    for command in ran:
        ctx = parse(command[1:])
        service, env = ctx.params.get("service"), ctx.params.get("environment", ctx.params.get("env"))
        assert any(service in (s, (s,)) and env in (e, (e,)) for s, e in services), command


def test_the_kubectl_commands_look_at_the_lab_namespace_and_services() -> None:
    namespaces = {d.scenario.namespace for d in DEMOS.values()}
    names = {d.scenario.name for d in DEMOS.values()}
    ran = [c for c in lab_commands() if c[0] == "kubectl"]
    assert ran
    for command in ran:
        if "-n" in command:
            assert command[command.index("-n") + 1] in namespaces, command
        for kind in ("canary", "httproute"):  # one object of its kind: a lab service's
            if kind in command and command.index(kind) + 1 < len(command):
                name = command[command.index(kind) + 1]
                assert name.startswith("-") or name in names, command
