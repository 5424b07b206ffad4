"""What `rollouts lint` imports (bench/lint_startup.py's budget, 1.0 x yamllint with click): no heavy module, and
no jsonschema-rs for a valid rollouts.project.yaml, which lint's own schema walker vouches for (soundly: the
walker implements every keyword project.schema.json uses, and is never laxer than jsonschema-rs there)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from rollouts.project import SCHEMA_FILE, project_schema
from rollouts.spec.load import parse
from rollouts.spec.schema import SUPPORTED, conforms

HEAVY = ("jsonschema_rs", "jinja2", "sigstore", "cryptography", "rollouts.render", "rollouts.validate", "argparse",
         "ruamel")  # a clean spec and project file are parsed without positions (spec.load.parse_plain)


def test_lint_imports_nothing_heavy(root: Path) -> None:
    code = ("import sys; from rollouts.cli import run; code = run(['lint', 'services/checkout/rollouts.yaml']); "
            "print(code, sorted({m.split('.')[0] if not m.startswith('rollouts.') else '.'.join(m.split('.')[:2]) "
            "for m in sys.modules}), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    code, modules = done.stderr.strip().splitlines()[-1].split(" ", 1)
    assert code == "0"
    assert [m for m in HEAVY if f"'{m}'" in modules] == []


def test_a_spec_with_a_finding_is_reported_at_its_line_by_the_positional_loader(tmp_path: Path, root: Path) -> None:
    spec = tmp_path / "services" / "checkout" / "rollouts.yaml"
    spec.parent.mkdir(parents=True)
    text = (root / "services" / "checkout" / "rollouts.yaml").read_text()
    spec.write_text(text.replace("  strategy:\n", "  strategy:\n    stepz: 1\n", 1))
    line = spec.read_text().splitlines().index("    stepz: 1") + 1
    done = subprocess.run([sys.executable, "-m", "rollouts", "lint", "--format", "json"], cwd=tmp_path,
                          capture_output=True, text=True)
    found = [(f["rule"], f["line"], f["column"]) for f in json.loads(done.stdout)]
    assert ("schema-unknown-key", line, 5) in found, found


def _keywords(node: Any, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            out.add(key)
            if key == "properties":
                for sub in value.values():
                    _keywords(sub, out)
            else:
                _keywords(value, out)
    elif isinstance(node, list):
        for item in node:
            _keywords(item, out)
    return out


def test_the_walker_implements_every_keyword_of_the_project_schema() -> None:
    with open(SCHEMA_FILE, encoding="utf-8") as fh:
        used = _keywords(json.load(fh), set())
    assert "$ref" not in used
    assert sorted(used - SUPPORTED) == []


@pytest.mark.parametrize("text", [
    pytest.param("environments: [staging, production]\n", id="valid"),
    pytest.param("environments: [a, a]\n", id="duplicate-environment"),
    pytest.param("environments: []\n", id="no-environment"),
    pytest.param("environments: ['']\n", id="empty-name"),
    pytest.param("environments: staging\n", id="not-a-list"),
    pytest.param("environment: [staging]\n", id="unknown-key"),
    pytest.param("render: {repository: ''}\n", id="empty-repository"),
    pytest.param("render: {repositry: x}\n", id="misspelt-key"),
    pytest.param("render: {repository: x, develop: 'yes'}\n", id="string-for-boolean"),
    pytest.param("render: {repository: x, branch: 3}\n", id="number-for-string"),
    pytest.param("render: {repository: x, develop: true, verifySecret: ''}\n", id="valid-render"),
    pytest.param("validate: {skip: [Certificate, '']}\n", id="empty-kind"),
    pytest.param("validate: {skip: [cert-manager.io/v1/Certificate]}\n", id="valid-skip"),
    pytest.param("validate: []\n", id="list-for-mapping"),
    pytest.param("environments: [1.0]\n", id="float-name"),
    pytest.param("render: null\n", id="null-render"),
])
def test_the_walker_and_jsonschema_rs_agree(text: str) -> None:
    from rollouts.spec.resolve import to_plain

    doc, findings = parse(text.encode(), "rollouts.project.yaml")
    assert doc is not None and findings == []
    valid = jsonschema_rs.validator_for(project_schema()).is_valid(to_plain(doc.data))
    assert conforms(doc, project_schema()) == valid
