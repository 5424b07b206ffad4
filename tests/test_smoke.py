from __future__ import annotations

import json


def test_examples_lint_clean(run_cli):
    done = run_cli("lint", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == []


def test_unknown_key_has_did_you_mean(run_cli, tmp_path, root):
    spec = (root / "services/checkout/rollouts.yaml").read_text().replace("    threshold: 2\n", "    treshold: 2\n")
    path = tmp_path / "rollouts.yaml"
    path.write_text(spec)
    done = run_cli("lint", str(path), "--root", str(tmp_path))
    assert done.returncode == 1
    assert done.stdout.startswith("rollouts.yaml:27:5: error: spec.strategy.treshold: unknown key 'treshold'")
    assert "Did you mean 'threshold'?" in done.stdout
