"""docs/spec.md and docs/rules.md stay in step with the schema and the rule modules."""

from __future__ import annotations

from rollouts.lint.explain import rules_markdown
from rollouts.lint.rules import all_rules
from spec_docs import fields, render_into


def test_rules_md_is_generated_from_the_rules(root):
    """Regenerate with: .venv/bin/python scripts/rules_docs.py"""
    assert (root / "docs" / "rules.md").read_text() == rules_markdown()


def test_rules_md_gives_every_rule_its_reason(root):
    text = (root / "docs" / "rules.md").read_text()
    for module in all_rules():
        assert f"## {module.ID}\n" in text
        assert module.REASON.rstrip() in text


def test_spec_md_field_reference_is_current(root):
    """Regenerate with: .venv/bin/python scripts/spec_docs.py"""
    text = (root / "docs" / "spec.md").read_text()
    assert render_into(text) == text


def test_spec_md_documents_every_field_with_an_example(root):
    text = (root / "docs" / "spec.md").read_text()
    rows = {line.split("`")[1]: line for line in text.splitlines() if line.startswith("| `")}
    for path, _ in fields():
        assert path in rows, path
        example = rows[path].split(" | ")[3]
        assert example.strip(), f"{path} has no example"
