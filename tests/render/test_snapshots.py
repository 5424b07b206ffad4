"""The exact text rendered for every example service in every environment, and for the infrastructure.

Single-file YAML snapshots (syrupy): one file per service and environment, every generated file in order with
its path. Update with ``pytest tests/render/test_snapshots.py --snapshot-update`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rollouts.project import load_project
from rollouts.render import RenderOptions, RenderResult, render
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

EXAMPLES = ["billing-worker", "checkout", "frontend"]  # blueGreen, canary, abTest


class YAMLSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "yaml"


@pytest.fixture
def yaml_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(YAMLSnapshot)


@pytest.fixture(scope="module")
def rendered(root: Path) -> RenderResult:
    result = render(load_project(str(root)), options=RenderOptions(develop=True))
    assert result.ok, result.findings
    return result


def joined(result: RenderResult, prefix: str) -> str:
    parts = [f"# ==> {path}\n{text}" for path, text in result.files.items() if path.startswith(prefix)]
    assert parts, prefix
    return "".join(parts)


def test_every_strategy_has_an_example(rendered: RenderResult) -> None:
    strategies = {name: ("stepWeights" in joined(rendered, f"flux/apps/production/{name}/"),
                         "match:" in joined(rendered, f"flux/apps/production/{name}/"))
                  for name in EXAMPLES}
    assert strategies == {"checkout": (True, False), "frontend": (False, True), "billing-worker": (False, False)}


@pytest.mark.parametrize("env", ["staging", "production"])
@pytest.mark.parametrize("service", EXAMPLES)
def test_service(rendered: RenderResult, yaml_snapshot: SnapshotAssertion, service: str, env: str) -> None:
    assert joined(rendered, f"flux/apps/{env}/{service}/") == yaml_snapshot


@pytest.mark.parametrize("part", ["bootstrap", "infrastructure/cert-manager",
                                  "infrastructure/progressive-delivery/linkerd",
                                  "infrastructure/progressive-delivery/flagger",
                                  "infrastructure/progressive-delivery/develop"],
                         ids=["bootstrap", "cert-manager", "linkerd", "flagger", "develop"])
def test_infrastructure(rendered: RenderResult, yaml_snapshot: SnapshotAssertion, part: str) -> None:
    assert joined(rendered, f"flux/{part}/") == yaml_snapshot
