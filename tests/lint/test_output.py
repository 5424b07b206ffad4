"""`rollouts lint` output as users and CI see it: text (colour only on a TTY, NO_COLOR honoured), json, GitHub
annotations and SARIF; exit codes; --explain and --list-rules; inline suppressions."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import jsonschema
import pytest
from rollouts.lint.rules import all_rules

SPEC = """\
apiVersion: rollouts/v1alpha1
kind: ServiceRollout
metadata:
  name: web
  namespace: shop
  owner: team-web
spec:
  workload:
    chart: {repository: oci://ghcr.io/acme/charts/web, version: 1.0.0}
    image: {repository: ghcr.io/acme/web, tag: latest}
    replicas: 1
  strategy:
    type: canary
    steps: [10, 50]
    treshold: 3
  gates:
    loadTest: {rps: 5}
"""

WARNINGS_ONLY = SPEC.replace("tag: latest", "tag: 1.0.0").replace("    treshold: 3\n", "")


@pytest.fixture
def repo(tmp_path):
    def make(text: str) -> str:
        folder = tmp_path / "services" / "web"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "rollouts.yaml").write_text(text)
        return str(tmp_path)

    return make


def test_text_output(run_cli, repo, snapshot):
    done = run_cli("lint", cwd=repo(SPEC))
    assert done.returncode == 1
    assert done.stdout == snapshot
    assert done.stderr == "2 error(s), 1 warning(s)\n"


def test_json_output(run_cli, repo, snapshot):
    done = run_cli("lint", "--format", "json", cwd=repo(SPEC))
    assert done.returncode == 1
    findings = json.loads(done.stdout)
    assert [(f["rule"], f["severity"], f["line"], f["column"]) for f in findings] == [
        ("image-tag-mutable", "error", 10, 48),
        ("min-replicas", "warning", 11, 15),
        ("schema-unknown-key", "error", 15, 5),
    ]
    assert done.stdout == snapshot
    assert done.stderr == ""


def test_github_annotations(run_cli, repo, snapshot):
    done = run_cli("lint", "--format", "github", cwd=repo(SPEC))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("::error file=services/web/rollouts.yaml,line=10,col=48,title=image-tag-mutable::")
    assert lines[1].startswith("::warning file=services/web/rollouts.yaml,line=11,col=15,title=min-replicas::")
    assert all("\n" not in line for line in lines) and "%0A" in lines[0]  # the hint rides on an escaped newline
    assert done.stdout == snapshot


def test_github_is_the_default_on_github_actions(repo):
    rollouts = os.path.join(os.path.dirname(sys.executable), "rollouts")
    env = {**os.environ, "GITHUB_ACTIONS": "true"}
    done = subprocess.run([rollouts, "lint"], cwd=repo(SPEC), env=env, capture_output=True, text=True, check=False)
    assert done.stdout.startswith("::error file=services/web/rollouts.yaml,line=10,col=48,")


RULE = {"type": "object", "required": ["id"],
        "properties": {"id": {"type": "string"}, "shortDescription": {"type": "object", "required": ["text"]}}}

# The parts of the SARIF 2.1.0 schema (docs.oasis-open.org/sarif/sarif/v2.1.0) that GitHub code scanning reads.
SARIF_SUBSET = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "$schema": {"type": "string", "format": "uri"},
        "runs": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["tool"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {
                    "type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                   "rules": {"type": "array", "items": RULE}}}}},
                "results": {"type": "array", "items": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "ruleId": {"type": "string"},
                        "ruleIndex": {"type": "integer", "minimum": -1},
                        "level": {"enum": ["none", "note", "warning", "error"]},
                        "message": {"type": "object", "anyOf": [{"required": ["text"]}, {"required": ["id"]}]},
                        "locations": {"type": "array", "items": {"type": "object", "properties": {
                            "physicalLocation": {"type": "object", "properties": {
                                "artifactLocation": {"type": "object", "properties": {"uri": {"type": "string"}}},
                                "region": {"type": "object", "properties": {
                                    "startLine": {"type": "integer", "minimum": 1},
                                    "startColumn": {"type": "integer", "minimum": 1}}}}}}}},
                        "partialFingerprints": {"type": "object", "additionalProperties": {"type": "string"}},
                    }}},
            }}},
    },
}


def test_sarif_output(run_cli, repo):
    done = run_cli("lint", "--format", "sarif", cwd=repo(SPEC))
    assert done.returncode == 1
    log = json.loads(done.stdout)
    jsonschema.Draft7Validator(SARIF_SUBSET).validate(log)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    assert {m.ID for m in all_rules()} <= {r["id"] for r in rules}
    assert [(r["ruleId"], r["level"], r["locations"][0]["physicalLocation"]["region"]["startLine"])
            for r in run["results"]] == [("image-tag-mutable", "error", 10), ("min-replicas", "warning", 11),
                                         ("schema-unknown-key", "error", 15)]


def test_sarif_rule_summaries_are_explains():
    """SARIF reads each summary from the one rule module it names (or the tables of other ids): the same text as
    `lint --explain`, for every id the tool can emit. Rule modules are named after their ids."""
    from rollouts.lint.explain import known_ids, summary_of
    from rollouts.report import summaries

    assert {m.__name__.rsplit(".", 1)[1] for m in all_rules()} == {m.ID.replace("-", "_") for m in all_rules()}
    assert summaries(known_ids()) == {i: summary_of(i) for i in known_ids()}
    assert summaries(["no-such-id"]) == {"no-such-id": "no-such-id"}


def test_sarif_imports_only_the_rules_it_reports():
    """`validate -f sarif` (or render, verify) describes the ids in its findings without importing all 45 rules."""
    code = """if True:
        import sys
        from rollouts.findings import Finding, Severity
        from rollouts.report import format_findings
        out = format_findings([Finding("kustomize-build", Severity.ERROR, "flux/a", 0, 0, "m"),
                               Finding("min-replicas", Severity.WARNING, "services/a/rollouts.yaml", 3, 1, "m")],
                              "sarif")
        print(sorted(m for m in sys.modules if m.startswith("rollouts.lint.rules.")))
        print(out)
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported, _, sarif = done.stdout.partition("\n")
    assert imported == "['rollouts.lint.rules.min_replicas']"
    rules = json.loads(sarif)["runs"][0]["tool"]["driver"]["rules"]
    assert [(r["id"], r["shortDescription"]["text"]) for r in rules] == [
        ("kustomize-build", "`kustomize build` of a rendered kustomization failed."),
        ("min-replicas", "Run at least 2 replicas (autoscaling.minReplicas, or replicas when not autoscaled).")]


def _on_a_tty(args: list[str], cwd: str, no_color: bool) -> str:
    """Run rollouts with its stdout on a pseudo-terminal; return what it printed there."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "GITHUB_ACTIONS")}
    if no_color:
        env["NO_COLOR"] = "1"
    master, slave = pty.openpty()
    rollouts = os.path.join(os.path.dirname(sys.executable), "rollouts")
    proc = subprocess.Popen([rollouts, *args], cwd=cwd, env=env, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    proc.wait(timeout=30)
    return b"".join(chunks).decode()


def test_colour_only_on_a_tty_and_never_with_no_color(run_cli, repo):
    root = repo(SPEC)
    coloured = _on_a_tty(["lint"], root, no_color=False)
    assert "\033[31merror\033[0m" in coloured and "\033[33mwarning\033[0m" in coloured
    assert "\033[" not in _on_a_tty(["lint"], root, no_color=True)
    piped = run_cli("lint", cwd=root, env={"NO_COLOR": ""})
    assert piped.stdout and "\033[" not in piped.stdout


@pytest.mark.parametrize(("spec", "args", "code"), [
    pytest.param("clean", [], 0, id="clean"),
    pytest.param("clean", ["--strict"], 0, id="clean-strict"),
    pytest.param("warnings", [], 0, id="warnings"),
    pytest.param("warnings", ["--strict"], 2, id="warnings-strict"),
    pytest.param("errors", [], 1, id="errors"),
    pytest.param("errors", ["--strict"], 1, id="errors-strict"),
])
def test_exit_codes(run_cli, repo, spec, args, code):
    text = {"clean": WARNINGS_ONLY.replace("replicas: 1", "replicas: 2"), "warnings": WARNINGS_ONLY,
            "errors": SPEC}[spec]
    done = run_cli("lint", *args, cwd=repo(text))
    assert done.returncode == code, done.stdout + done.stderr


def test_examples_exit_zero_even_under_strict(run_cli):
    done = run_cli("lint", "--strict")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_explain(run_cli, snapshot):
    done = run_cli("lint", "--explain", "match-without-ab-test")
    assert done.returncode == 0
    assert "fluxcd/flagger#1777" in done.stdout
    assert done.stdout == snapshot


def test_explain_built_in_and_unknown(run_cli):
    assert run_cli("lint", "--explain", "yaml-alias-bomb").stdout.startswith("yaml-alias-bomb (error)")
    done = run_cli("lint", "--explain", "no-such-rule")
    assert done.returncode == 1
    assert done.stderr == "error: no rule named 'no-such-rule'; see rollouts lint --list-rules\n"


def test_list_rules(run_cli):
    done = run_cli("lint", "--list-rules")
    assert done.returncode == 0
    listed = [line.split()[0] for line in done.stdout.splitlines()]
    assert listed == sorted(listed)
    assert {m.ID for m in all_rules()} <= set(listed)
    assert "schema-unknown-key" in listed


def test_suppression_with_a_reason(run_cli, repo):
    text = WARNINGS_ONLY.replace("    replicas: 1\n",
                                 "    replicas: 1  # rollouts: ignore[min-replicas] a singleton by design (leader)\n")
    done = run_cli("lint", "--strict", cwd=repo(text))
    assert (done.returncode, done.stdout) == (0, "")


def test_suppression_on_the_line_above(run_cli, repo):
    text = WARNINGS_ONLY.replace("    replicas: 1\n",
                                 "    # rollouts: ignore[min-replicas] a singleton by design (leader election)\n"
                                 "    replicas: 1\n")
    done = run_cli("lint", "--strict", cwd=repo(text))
    assert (done.returncode, done.stdout) == (0, "")


def test_suppression_without_a_reason_is_an_error_and_does_not_apply(run_cli, repo):
    text = WARNINGS_ONLY.replace("    replicas: 1\n", "    replicas: 1  # rollouts: ignore[min-replicas]\n")
    done = run_cli("lint", "--format", "json", cwd=repo(text))
    assert done.returncode == 1
    assert [(f["rule"], f["line"], f["column"]) for f in json.loads(done.stdout)] == [
        ("min-replicas", 11, 15), ("suppression-without-reason", 11, 18)]


def test_schema_findings_cannot_be_suppressed(run_cli, repo):
    text = SPEC.replace("    treshold: 3\n", "    treshold: 3  # rollouts: ignore[schema-unknown-key] on purpose\n")
    done = run_cli("lint", "--format", "json", cwd=repo(text))
    assert "schema-unknown-key" in [f["rule"] for f in json.loads(done.stdout)]
