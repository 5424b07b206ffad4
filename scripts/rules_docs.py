"""Write docs/rules.md from the rule modules (every rule's summary and reason). Run after adding or editing a rule:

    .venv/bin/python scripts/rules_docs.py

Not on the ``rollouts lint`` path; tests/lint/test_docs.py keeps docs/rules.md equal to what this writes.
"""

from __future__ import annotations

import os

from rollouts.lint.explain import rules_markdown

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")

if __name__ == "__main__":
    with open(os.path.join(DOCS, "rules.md"), "w", encoding="utf-8") as fh:
        fh.write(rules_markdown())
