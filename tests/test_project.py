"""rollouts.project.yaml: environments and kinds the project validates without a schema."""

from __future__ import annotations

import json

ISSUER = """\
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: linkerd-trust-root, namespace: linkerd}
spec: {selfSigned: {}}
"""


def _tree(tmp_path):
    tree = tmp_path / "flux"
    tree.mkdir()
    (tree / "issuer.yaml").write_text(ISSUER)
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    return catalog


def test_a_kind_without_schema_is_an_error_unless_the_project_skips_it(tmp_path, run_cli, tool):
    tool("kubeconform")
    catalog = _tree(tmp_path)
    args = ("validate", "--root", str(tmp_path), "--schemas", str(catalog), "--no-promql", "--no-kustomize",
            "--format", "json")
    done = run_cli(*args)
    assert done.returncode == 1, done.stderr
    assert [f["rule"] for f in json.loads(done.stdout)] == ["schema-missing"]

    (tmp_path / "rollouts.project.yaml").write_text("validate:\n  skip: [cert-manager.io/v1/Issuer]\n")
    done = run_cli(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == []


def test_a_malformed_skip_list_is_a_finding_at_its_line(tmp_path, run_cli):
    (tmp_path / "rollouts.project.yaml").write_text("environments: [staging]\nvalidate:\n  skip: Issuer\n")
    done = run_cli("lint", "--root", str(tmp_path), "--format", "json")
    assert done.returncode == 1
    [finding] = json.loads(done.stdout)
    assert (finding["rule"], finding["file"], finding["line"], finding["column"]) == (
        "project-config", "rollouts.project.yaml", 3, 3)


def test_flux_verifies_commits_unless_the_project_turns_it_off(tmp_path):
    from rollouts.project import load_project
    from rollouts.render import options_from_project

    assert options_from_project(load_project(str(tmp_path))).verify_secret == "rollouts-commit-signers"
    (tmp_path / "rollouts.project.yaml").write_text("render:\n  verifySecret: flux-git-keys\n")
    assert options_from_project(load_project(str(tmp_path))).verify_secret == "flux-git-keys"
    (tmp_path / "rollouts.project.yaml").write_text('render:\n  verifySecret: ""\n')
    assert options_from_project(load_project(str(tmp_path))).verify_secret is None


def test_an_ssh_repository_without_credentials_is_an_error_at_its_line(tmp_path, run_cli):
    """source-controller cannot clone ssh:// without a Secret holding 'identity' (GitRepository spec.secretRef)."""
    (tmp_path / "rollouts.project.yaml").write_text(
        "environments: [staging]\nrender:\n  branch: main\n  repository: ssh://git@git.example/ops.git\n")
    done = run_cli("render", "--root", str(tmp_path), "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    [finding] = json.loads(done.stdout)
    assert (finding["rule"], finding["file"], finding["line"], finding["column"]) == (
        "project-config", "rollouts.project.yaml", 4, 15)
    assert "secretRef" in finding["message"] and "flux create secret git" in finding["hint"]
    assert not (tmp_path / "flux").exists()


def test_render_section_values_are_checked(tmp_path):
    from rollouts.project import load_project

    cases = {
        "render: {repository: 'git@github.com:org/ops.git', secretRef: key}\n": (1, 22, "not an http(s)"),
        "render:\n  secretRef: [key]\n": (2, 14, "render.secretRef must be a string"),
        "render: [x]\n": (1, 9, "render must be a mapping"),
    }
    for text, (line, col, message) in cases.items():
        (tmp_path / "rollouts.project.yaml").write_text(text)
        [finding] = load_project(str(tmp_path)).findings
        assert (finding.line, finding.column) == (line, col) and message in finding.message, (text, finding)
    (tmp_path / "rollouts.project.yaml").write_text("render: {repository: 'ssh://h/o.git', secretRef: key}\n")
    assert load_project(str(tmp_path)).findings == []
