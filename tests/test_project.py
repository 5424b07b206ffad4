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


def _schema_nodes(node, path=()):
    """(path, node) for the schema and every node below it."""
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _schema_nodes(sub, (*path, name))
    if "items" in node:
        yield from _schema_nodes(node["items"], (*path, "[]"))


def test_the_project_schema_is_strict_and_described(root):
    import jsonschema

    schema = json.loads((root / "generator" / "project.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    for path, node in _schema_nodes(schema):
        assert node.get("description"), path
        if node.get("type") == "object":  # closed, or a map (stack.environments) whose values are closed
            closed = node.get("additionalProperties")
            assert closed is False or (closed.get("description") and closed.get("additionalProperties") is False), path
    # the keys load_project reads are the schema's
    assert set(schema["properties"]) == {"environments", "render", "validate", "controller", "admission", "stack"}
    assert set(schema["properties"]["render"]["properties"]) == {
        "repository", "secretRef", "branch", "develop", "verifySecret"}


def test_the_repository_project_file_matches_the_schema(root):
    from rollouts.project import load_project

    project = load_project(str(root))
    assert project.findings == [] and project.render_findings == []


def _table_rows(schema):
    for path, node in _schema_nodes(schema):
        if not path or "[]" in path:
            continue
        type_ = f"list of {node['items']['type']}" if node["type"] == "array" else node["type"]
        yield f"| `{'.'.join(path)}` | {type_} | {node['description']} |"


def test_docs_project_md_has_every_schema_key_with_its_schema_description(root):
    schema = json.loads((root / "generator" / "project.schema.json").read_text())
    docs = (root / "docs" / "project.md").read_text().splitlines()
    rows = list(_table_rows(schema))
    # environments, render + 5 keys, validate + skip, controller + image, baseImage, admission + keyless (issuer,
    # subject, subjectRegExp) + key (secretRef), stack + mesh, controller, gitops, environments
    assert len(rows) == 24
    missing = [row for row in rows if row not in docs]
    assert missing == [], "docs/project.md's table differs from generator/project.schema.json"
    documented = [line.split("`")[1] for line in docs if line.startswith("| `")]
    assert documented == [row.split("`")[1] for row in rows]  # and nothing the schema does not have


def test_the_stack_is_checked_at_its_line(tmp_path):
    from rollouts.project import RENDERED, Stack, load_project

    head = "environments: [staging, production]\nrender: {repository: 'https://h/o.git'}\n"
    cases = {
        "stack: {mesh: istio}\n": (3, 15, "staging: this version of rollouts renders mesh linkerd, controller flagger "
                                          "and gitops flux only, not mesh istio"),
        "stack: {mesh: istio, controller: argo-rollouts}\n": (3, 15, "not mesh istio"),
        "stack: {controller: argo-rollouts}\n": (3, 21, "staging: argo-rollouts on linkerd does not exist"),
        "stack:\n  environments:\n    production: {gitops: argocd}\n": (5, 26, "production: this version"),
        "stack: {environments: {qa: {mesh: linkerd}}}\n": (3, 28, "names 'qa', which is not one of the project's"),
        "stack: {mesh: nginx}\n": (3, 15, 'stack.mesh: "nginx" is not one of: linkerd, istio, traefik'),
    }
    for text, (line, col, message) in cases.items():
        (tmp_path / "rollouts.project.yaml").write_text(head + text)
        [finding] = load_project(str(tmp_path)).findings
        assert (finding.line, finding.column) == (line, col) and message in finding.message, (text, finding)
        assert finding.severity.value == "error"
    (tmp_path / "rollouts.project.yaml").write_text(head + "stack:\n  mesh: linkerd\n  environments:\n"
                                                    "    staging: {gitops: flux}\n")
    project = load_project(str(tmp_path))
    assert project.findings == [] and project.stack("staging") == project.stack("production") == RENDERED
    assert Stack("linkerd", "flagger", "flux") == RENDERED
