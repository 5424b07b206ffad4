"""A new user's mistakes in services/<service>/rollouts.yaml (issue 13, section 2), each through `rollouts lint` in a
scratch project as the user ran it, or in-process where a story covers every field: the finding out, at its place,
alone, in the user's words, with a hint that says how to fix it."""

from __future__ import annotations

import functools
import json
import math
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rollouts.lint import lint_spec
from rollouts.lint.explain import explain_rule
from rollouts.lint.rules import all_rules
from rollouts.project import Project
from rollouts.spec import schema as walker
from rollouts.spec.load import Spec, load, parse
from rollouts.spec.resolve import to_plain
from spec_paths import every_path, with_value

Run = Callable[..., subprocess.CompletedProcess[str]]

PROJECT = "environments: [staging, production]\nrender:\n  repository: https://git.example/ops.git\n"
SPEC = """\
apiVersion: rollouts/v1alpha1
kind: ServiceRollout
metadata:
  name: x
  namespace: shop
  owner: team-x
spec:
  workload: {port: 8080, steadyTraffic: true}
  strategy:
    type: canary
    steps: [10, 50]
    interval: 1m
    threshold: 3
  metrics:
    - name: errs
      query: sum(rate(http_errors_total[1m]))
      max: 1
      address: http://prometheus.monitoring:9090
"""
FILE = "services/x/rollouts.yaml"


def _lint(tmp_path: Path, run_cli: Run, *edits: tuple[str, str]) -> tuple[int, list[dict[str, Any]], str]:
    text = SPEC
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    (tmp_path / "rollouts.project.yaml").write_text(PROJECT)
    (tmp_path / "services" / "x").mkdir(parents=True, exist_ok=True)
    (tmp_path / FILE).write_text(text)
    done = run_cli("lint", "--format", "json", cwd=tmp_path)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout or "[]"), done.stderr


def _where(findings: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    return [(f["rule"], f["line"], f["column"]) for f in findings]


def test_the_scratch_spec_is_clean(tmp_path: Path, run_cli: Run) -> None:
    assert _lint(tmp_path, run_cli)[:2] == (0, [])


@pytest.mark.parametrize(("old", "new", "line", "column"), [
    pytest.param("threshold: 3", "threshold: 1e400", 13, 16, id="threshold"),
    pytest.param("port: 8080", "port: 1e400", 8, 20, id="port"),
    pytest.param("max: 1\n", "max: 1e400\n", 17, 12, id="metric-max"),
    pytest.param("max: 1\n", "max: .nan\n", 17, 12, id="metric-max-nan"),
    pytest.param("steps: [10, 50]", "steps: [10, -.inf]", 11, 17, id="list-item"),
    pytest.param("steadyTraffic: true}", "steadyTraffic: true, values: {replicas: 1e400}}", 8, 66,
                 id="chart-values"),
])
def test_an_infinite_or_nan_number_is_a_schema_error_at_its_line(tmp_path: Path, run_cli: Run, old: str, new: str,
                                                                 line: int, column: int) -> None:
    """Was: threshold -> internal error: OverflowError, exit 3; max -> clean lint, then a render failure at 1:1."""
    rc, findings, _ = _lint(tmp_path, run_cli, (old, new))
    assert rc == 1
    assert _where(findings) == [("schema-range", line, column)]
    written = new.split(": ")[-1].strip(" \n]}").split(", ")[-1]
    assert findings[0]["message"].split(": ", 1)[1].startswith(written), findings[0]["message"]
    assert "inf" not in findings[0]["message"].replace(written, "").replace("infinity", "")


def _numbers(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _numbers(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _numbers(value, (*path, i))
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield path



@pytest.mark.parametrize("name", ["checkout", "frontend", "billing-worker"])
def test_no_infinite_or_nan_number_gets_past_lint_in_any_numeric_field(root: Path, name: str) -> None:
    """Every number the example services set, as +inf, -inf and NaN: a schema-range finding at that field, and no
    exception from any rule."""
    spec, _ = load(str(root / "services" / name / "rollouts.yaml"))
    assert spec is not None
    doc = to_plain(spec.data)
    paths = list(_numbers(doc))
    assert len(paths) > 5
    project = Project(str(root))
    from rollouts.spec.load import path_text

    for path in paths:
        for value in (math.inf, -math.inf, math.nan):
            findings = lint_spec(Spec(f"services/{name}/rollouts.yaml", "", with_value(doc, path, value)), project)
            assert [f.rule for f in findings if f.path == path_text(path)] == ["schema-range"], (path, findings)


def test_a_value_that_fails_the_schema_gets_one_finding_not_four(tmp_path: Path, run_cli: Run) -> None:
    """Was: flagger-duration-format, interval-below-minimum and metric-window-short on "1 minute", the schema's
    finding last."""
    rc, findings, _ = _lint(tmp_path, run_cli, ("interval: 1m", "interval: 1 minute"))
    assert rc == 1
    assert _where(findings) == [("schema-value", 12, 15)]
    assert "interval: 1m" in findings[0]["hint"]


def test_rules_still_run_on_the_sections_the_schema_accepts(tmp_path: Path) -> None:
    """A schema error in one object does not hide a rule's finding in another."""
    text = SPEC.replace("interval: 1m", "interval: 1 minute").replace("owner: team-x", "owner: team-x\n  name: y")
    spec, _ = parse((text.replace("  name: y\n", "") + "  policy: {maxRollbackTime: 1s}\n").encode(), FILE)
    assert spec is not None
    found = [(f.rule, f.path) for f in lint_spec(spec, Project(str(tmp_path)))]
    assert ("schema-value", "spec.strategy.interval") in found
    assert all(not p.startswith("spec.strategy") for r, p in found if not r.startswith("schema-")), found


def test_a_duplicate_key_names_the_line_of_its_first_occurrence(tmp_path: Path, run_cli: Run) -> None:
    """Was: 'first defined on line 10', the line where the strategy mapping starts (its first key is type)."""
    rc, findings, _ = _lint(tmp_path, run_cli, ("threshold: 3\n", "threshold: 3\n    steps: [20]\n"))
    assert rc == 1
    assert _where(findings) == [("yaml-duplicate-key", 14, 5)]
    assert findings[0]["message"] == "duplicate key 'steps' (first defined on line 11)"


def test_a_duplicate_key_at_the_top_level(tmp_path: Path, run_cli: Run) -> None:
    rc, findings, _ = _lint(tmp_path, run_cli, ("spec:\n", "kind: ServiceRollout\nspec:\n"))
    assert rc == 1
    assert findings[0]["message"] == "duplicate key 'kind' (first defined on line 2)"


def test_an_empty_value_is_reported_at_its_key_in_plain_words(tmp_path: Path, run_cli: Run) -> None:
    """Was: at the next key's line (threshold, 13:5), saying 'expected string, got null null'."""
    rc, findings, _ = _lint(tmp_path, run_cli, ("interval: 1m", "interval:"))
    assert rc == 1
    assert _where(findings) == [("schema-type", 12, 5)]
    assert findings[0]["message"] == "spec.strategy.interval is empty; expected a duration such as 1m"
    assert "interval: 1m" in findings[0]["hint"]


@pytest.mark.parametrize(("old", "new", "expected"), [
    pytest.param("owner: team-x", "owner: !team x", "got a tagged value !team x", id="tagged-scalar"),
    pytest.param("steps: [10, 50]", "steps: [10, !pct 50]", "got a tagged value !pct 50", id="tagged-item"),
    pytest.param("owner: team-x", "owner: team-x\n  [a, b]: 1", "metadata.[a, b]: a key is a list, not a string",
                 id="key-sequence"),
    pytest.param("owner: team-x", "owner: team-x\n  {a: b}: 1", "metadata.{a: b}: a key is a mapping, not a string",
                 id="key-mapping"),
    pytest.param("owner: team-x", "owner: 2026-12-03", "got a date 2026-12-03", id="date"),
    pytest.param("owner: team-x", "owner: !!binary aGVsbG8=", "got binary data (!!binary)", id="binary"),
])
def test_values_are_described_in_the_users_terms(tmp_path: Path, run_cli: Run, old: str, new: str,
                                                 expected: str) -> None:
    """Was: 'got TaggedScalar "x"', 'is a CommentedKeySeq', 'got bytes'."""
    rc, findings, _ = _lint(tmp_path, run_cli, (old, new))
    assert rc == 1
    assert any(expected in f["message"] for f in findings), findings
    for f in findings:
        for python in ("Tagged", "Commented", "Scalar", "bytes", "NoneType", "datetime", "('"):
            assert python not in f["message"] + f["hint"], f


def test_a_top_level_scalar_is_described_in_the_users_terms() -> None:
    for text, words in (("!foo x\n", "a tagged value !foo x"), ("2026-12-03\n", "a date 2026-12-03"),
                        ("42\n", "the number 42")):
        _, findings = parse(text.encode(), FILE)
        assert findings[0].message == f"the top level is {words}, not a mapping"


# Values that each break some part of the schema, put in place of every value of the example services.
BREAKERS = [None, True, -1, 0, 250000, 2.5, "", "x", "1h", "UPPER/case", [], [1, 1], {}, {"k": "v"}]


def _descriptions() -> set[str]:
    out: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("description"), str):
                out.add(node["description"].rstrip("."))
                out.add(node["description"].split(". ")[0].rstrip("."))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(walker.schema())
    return out


def _bad_hint(finding: Any, descriptions: set[str]) -> str:
    hint = finding.hint.strip()
    if hint in ("", "."):
        return "empty"
    if hint.rstrip(".") == finding.message.rstrip(".") or hint.rstrip(".") in finding.message:
        return "repeats the message"
    if hint.rstrip(".") in descriptions:
        return "repeats the field's description"
    return ""


@functools.cache
def _findings_of_mutations(root: Path) -> list[Any]:
    return list(_mutation_findings(root))


def _mutation_findings(root: Path) -> Iterator[Any]:
    project = Project(str(root))
    for name in ("checkout", "frontend", "billing-worker"):
        spec, _ = load(str(root / "services" / name / "rollouts.yaml"))
        assert spec is not None
        doc = to_plain(spec.data)
        paths = [p for p in every_path(doc) if p]
        for path in paths:
            for value in BREAKERS:
                yield from lint_spec(Spec(f"services/{name}/rollouts.yaml", "", with_value(doc, path, value)), project)



def test_every_schema_hint_says_how_to_fix(root: Path) -> None:
    """Was: hints of '.' (a node without a description) or the field's description repeated ('Time between
    analysis checks ...' for a wrong interval)."""
    descriptions = _descriptions()
    bad: dict[tuple[str, str], str] = {}
    seen = 0
    for f in _findings_of_mutations(root):
        if f.rule.startswith("schema-"):
            seen += 1
            problem = _bad_hint(f, descriptions)
            if problem:
                bad.setdefault((f.rule, f.message), f"{problem}: {f.hint!r}")
    assert seen > 1000
    assert bad == {}


def test_every_rule_hint_says_how_to_fix(root: Path) -> None:
    """The rules' own hints (lint/rules/*.py), from the mutations that make rules fire."""
    descriptions = _descriptions()
    fired: set[str] = set()
    bad: dict[str, str] = {}
    for f in _findings_of_mutations(root):
        if not f.rule.startswith(("schema-", "suppression-")):
            fired.add(f.rule)
            problem = _bad_hint(f, descriptions)
            if problem:
                bad.setdefault(f.rule, f"{problem}: {f.hint!r} for {f.message!r}")
    assert len(fired) > 10
    assert bad == {}


@pytest.mark.parametrize(("comment", "column", "hint"), [
    pytest.param("# rollouts: ignore[rollback-tme] we accept 9m", 38, "Did you mean rollback-time?", id="typo"),
    pytest.param("# rollouts: ignore[zzz] reason", 38, "rollouts lint --list-rules", id="unknown"),
    pytest.param("# rollouts: ignore[schema-type] reason", 38, "Fix the value instead", id="unsuppressible"),
])
def test_a_suppression_naming_no_rule_is_a_finding_at_the_id(tmp_path: Path, run_cli: Run, comment: str,
                                                             column: int, hint: str) -> None:
    """Was: accepted silently, suppressing nothing."""
    rc, findings, _ = _lint(tmp_path, run_cli, ("threshold: 3", f"threshold: 9  {comment}"))
    assert rc == 1
    assert ("suppression-unknown-rule", 13, column) in _where(findings)
    assert ("rollback-time", 13, 16) in _where(findings)  # the misspelled suppression suppressed nothing
    unknown = next(f for f in findings if f["rule"] == "suppression-unknown-rule")
    assert hint in unknown["hint"]


def test_a_correct_suppression_still_applies(tmp_path: Path, run_cli: Run) -> None:
    rc, findings, _ = _lint(tmp_path, run_cli, ("threshold: 3", "threshold: 9  # rollouts: ignore[rollback-time] ok"))
    assert (rc, findings) == (0, [])


def test_a_rule_that_raises_is_not_swallowed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Was: run_rules caught TypeError/ValueError/KeyError/AttributeError whenever the schema had any finding, so a
    rule's bug vanished. Now a rule only ever sees what the schema accepts, and its exception propagates."""
    module = all_rules()[0]

    def broken(ctx: Any) -> Iterator[Any]:
        raise KeyError("a bug in the rule")

    monkeypatch.setattr(module, "check", broken)
    spec, _ = parse(SPEC.replace("owner: team-x", "owner: team-x\n  ownr: typo").encode(), FILE)
    assert spec is not None
    with pytest.raises(KeyError, match="a bug in the rule"):
        lint_spec(spec, Project(str(tmp_path)))


def test_rules_never_see_a_value_the_schema_rejects(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    module = next(m for m in all_rules() if m.ID == "rollback-time")
    seen: list[Any] = []
    original = module.check

    def spy(ctx: Any) -> Iterator[Any]:
        seen.extend(spec["strategy"]["threshold"] for _, spec in ctx.each())
        yield from original(ctx)

    monkeypatch.setattr(module, "check", spy)
    spec, _ = parse(SPEC.replace("threshold: 3", "threshold: many").encode(), FILE)
    assert spec is not None
    assert [f.rule for f in lint_spec(spec, Project(str(tmp_path)))] == ["schema-type"]
    assert seen and all(isinstance(t, int) for t in seen)  # the schema's default, never "many"


@pytest.mark.parametrize(("edits", "rule", "line", "column"), [
    pytest.param([("interval: 1m", "interval: 1h"), ("threshold: 3", "threshold: 1\n    progressDeadline: 3h"),
                  ("max: 1\n", "max: 1\n      interval: 60m\n")],
                 "flagger-duration-format", 12, 15, id="interval-in-hours"),
    pytest.param([("type: canary\n    steps: [10, 50]", "type: abTest\n    iterations: 5")],
                 "ab-test-without-match", 10, 11, id="ab-test-without-match"),
    pytest.param([("type: canary\n    steps: [10, 50]", "type: blueGreen")], "iterations-required", 10, 11,
                 id="blue-green-without-iterations"),
    pytest.param([("    steps: [10, 50]\n", "")], "canary-without-steps", 10, 11, id="canary-without-steps"),
])
def test_limits_lint_enforces_are_in_the_schema_and_reported_once(tmp_path: Path, run_cli: Run,
                                                                  edits: list[tuple[str, str]], rule: str,
                                                                  line: int, column: int) -> None:
    """Was: invisible to an editor (the schema accepted interval: 1h and an abTest without match)."""
    text = SPEC
    for old, new in edits:
        text = text.replace(old, new, 1)
    text += "  policy: {maxRollbackTime: 3h, maxRolloutTime: 6h}\n"
    spec, _ = parse(text.encode(), FILE)
    assert spec is not None
    assert not jsonschema.Draft7Validator(walker.schema()).is_valid(to_plain(spec.data))  # what an editor shows
    rc, findings, _ = _lint(tmp_path, run_cli, *edits, ("metrics:", "policy: {maxRollbackTime: 3h, "
                                                        "maxRolloutTime: 6h}\n  metrics:"))
    assert rc == 1
    assert _where(findings) == [(rule, line, column)]


def test_a_limit_the_rule_does_not_report_stands_as_the_schemas_finding(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    """The schema's finding of a limit a rule owns is dropped only for the rule's own finding of it."""
    module = next(m for m in all_rules() if m.ID == "ab-test-without-match")
    monkeypatch.setattr(module, "check", lambda ctx: iter(()))
    text = SPEC.replace("type: canary\n    steps: [10, 50]", "type: abTest\n    iterations: 5")
    spec, _ = parse(text.encode(), FILE)
    assert spec is not None
    found = [(f.rule, f.line, f.message) for f in lint_spec(spec, Project(str(tmp_path)))]
    assert found == [("schema-required", 9, "spec.strategy: missing required key 'match'")]


def test_the_schema_has_a_stable_id() -> None:
    assert walker.schema()["$id"] == "https://rollouts.dev/schemas/v1alpha1/rollouts.schema.json"


def test_spec_md_defines_durations(root: Path) -> None:
    text = (root / "docs" / "spec.md").read_text()
    section = text.split("## Durations\n", 1)[1].split("\n## ", 1)[0]
    for needed in ("ms", "`30s`", "`1m30s`", walker.DURATION):
        assert needed in section
    assert "[duration](#durations)" in text  # the field reference links to it


def test_explain_project_config_says_what_it_checks() -> None:
    """Was: 'rollouts.project.yaml is malformed.'"""
    text, known = explain_rule("project-config")
    assert known
    for needed in ("unknown key", "type", "render.repository"):
        assert needed in text
    assert "malformed" not in text
