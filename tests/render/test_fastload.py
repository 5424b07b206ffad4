"""The fast spec loader agrees with the positional one, and steps aside where the two parsers could differ."""

from __future__ import annotations

from pathlib import Path

import pytest
from rollouts.lint import load_and_lint
from rollouts.lint.fastload import fast_spec
from rollouts.project import load_project
from rollouts.spec.load import load
from rollouts.spec.resolve import to_plain


@pytest.mark.parametrize("service", ["billing-worker", "checkout", "frontend"])
def test_fast_and_positional_loaders_agree_on_the_examples(root: Path, service: str) -> None:
    path = str(root / "services" / service / "rollouts.yaml")
    fast = fast_spec(path, "x")
    slow, findings = load(path, "x")
    assert fast is not None and slow is not None and findings == []
    assert fast.data == to_plain(slow.data)


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n", "a: !!str 1\n", "a: !custom x\n", "a: 2024-01-01\n", "<<: {a: 1}\n", "%YAML 1.2\n---\na: 1\n",
    "a: 1\na: 2\n", "- a\n", "a: [1\n", "\ufeffa: 1\n",
])
def test_risky_yaml_takes_the_positional_path(tmp_path: Path, text: str) -> None:
    path = tmp_path / "rollouts.yaml"
    path.write_text(text, encoding="utf-8")
    assert fast_spec(str(path), "x") is None


def test_findings_carry_exact_positions(tmp_path: Path, root: Path) -> None:
    spec = tmp_path / "services" / "checkout" / "rollouts.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text((root / "services" / "checkout" / "rollouts.yaml").read_text().replace("port: 8080", "port: 0"))
    loaded, findings = load_and_lint(load_project(str(tmp_path)), str(spec))
    assert loaded is not None and findings
    lines = spec.read_text().splitlines()
    assert all(f.line >= 1 for f in findings)
    assert any("port: 0" in lines[f.line - 1] for f in findings)
