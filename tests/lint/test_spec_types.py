"""The typed model of the resolved spec (generator/spec/types.py) is what scripts/spec_types.py makes of the schema,
accepts every resolved example spec, and costs lint nothing at start-up; and every rule's hint says how to fix."""

from __future__ import annotations

import ast
import copy
import glob
import json
import os
import subprocess
import sys
import types as pytypes
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest
import spec_types  # scripts/, on the test path
from rollouts.lint import lint
from rollouts.lint.rules import all_rules
from rollouts.project import load_project
from rollouts.spec import types as model
from rollouts.spec.load import load
from rollouts.spec.resolve import environments, resolve
from rollouts.spec.schema import SCHEMA_FILE, schema
from test_rules import CASES, _write  # tests/lint, on the test path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES_DIR = os.path.join(ROOT, "generator", "lint", "rules")


def _schema_copy() -> dict[str, Any]:
    with open(SCHEMA_FILE, encoding="utf-8") as fh:
        loaded: dict[str, Any] = json.load(fh)
    return loaded


# -- the generated file is current ------------------------------------------------------------------------------------

def test_types_file_is_what_the_generator_makes_of_the_schema():
    with open(spec_types.TYPES_FILE, encoding="utf-8") as fh:
        on_disk = fh.read()
    assert on_disk == spec_types.generate(schema()), f"generator/spec/types.py is stale: run {spec_types.COMMAND}"


def test_generator_check_mode_agrees():
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "spec_types.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_a_schema_change_changes_the_types():
    """What keeps the check above able to fail: defaults, required keys and enums all reach the output."""
    changed = _schema_copy()
    strategy = changed["definitions"]["strategy"]["properties"]
    strategy["pause"] = {"type": "boolean", "default": False}  # a new defaulted key: always present
    strategy["note"] = {"type": "string"}  # a new optional key
    strategy["type"]["enum"].append("shadow")
    del strategy["threshold"]["default"]  # no default any more: may be absent
    text = spec_types.generate(changed)
    assert text != spec_types.generate(_schema_copy())
    block = text.split("class Strategy(TypedDict):")[1].split("\nclass ")[0]
    assert "    pause: bool  # default false\n" in block
    assert "    note: NotRequired[str]\n" in block
    assert "    threshold: NotRequired[int]\n" in block
    assert 'type: Literal["canary", "abTest", "blueGreen", "fluxRollback", "shadow"]' in block


def test_generation_is_deterministic_and_has_the_generated_header():
    text = spec_types.generate(_schema_copy())
    assert text == spec_types.generate(_schema_copy())
    assert "generated from rollouts.schema.json, do not edit" in text.splitlines()[0]
    assert spec_types.COMMAND in text


def test_types_reach_every_object_of_the_resolved_spec():
    """Every section of spec (but environments, which resolve removes) and every definition it uses has a type."""
    hints = get_type_hints(model.Spec)
    sections = set(schema()["properties"]["spec"]["properties"]) - {"environments"}
    assert set(hints) == sections
    assert set(model.Spec.__required_keys__) == set(schema()["properties"]["spec"]["required"])
    for name in ("Workload", "Strategy", "SLO", "Gates", "Ingress", "Probes", "Policy", "Metric", "Alert",
                 "Match", "StringMatch", "Flow", "FlowStep", "ChangeWindow", "Resolved"):
        assert is_typeddict(getattr(model, name)), name


# -- the resolved examples fit the types ------------------------------------------------------------------------------

def problems(value: Any, annotation: Any, where: str = "") -> list[str]:
    """Where ``value`` does not have the shape of ``annotation``: undeclared or missing keys, wrong kinds, values
    outside a Literal."""
    if annotation is Any:
        return []
    if is_typeddict(annotation):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not a mapping"]
        hints = get_type_hints(annotation)
        out = [f"{where}.{k}: not declared in {annotation.__name__}" for k in value if k not in hints]
        out += [f"{where}.{k}: required by {annotation.__name__}, absent"
                for k in sorted(annotation.__required_keys__) if k not in value]
        for key, sub in value.items():
            if key in hints:
                out += problems(sub, hints[key], f"{where}.{key}")
        return out
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return [] if value in args else [f"{where}: {value!r} is not one of {args}"]
    if origin in (Union, pytypes.UnionType):
        arms = [problems(value, arm, where) for arm in args]
        return [] if any(not p for p in arms) else [p for arm in arms for p in arm]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list"]
        return [p for i, item in enumerate(value) for p in problems(item, args[0], f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not a mapping"]
        return [p for k, item in value.items() for p in problems(item, args[1], f"{where}.{k}")]
    if annotation is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif annotation is type(None):
        ok = value is None
    else:
        ok = isinstance(value, annotation)
    return [] if ok else [f"{where}: {value!r} is not {getattr(annotation, '__name__', annotation)}"]


def _resolved_examples(path: str, project_environments: list[str] | None = None) -> list[tuple[str, Any]]:
    spec, findings = load(path)
    assert spec is not None, findings
    return [(env, resolve(spec, env)) for env in environments(spec, project_environments)]


SERVICES = sorted(glob.glob(os.path.join(ROOT, "services", "*", "rollouts.yaml")))


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_resolved_service_spec_has_the_shape_of_its_type(path):
    project = load_project(ROOT)
    examples = _resolved_examples(path, project.environments)
    assert examples
    for env, doc in examples:
        assert problems(doc, model.Resolved, env) == []


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.rule)
def test_resolved_rule_cases_have_the_shape_of_their_type(tmp_path, case):
    """The rule cases between them use every section of the spec; each passes the schema, so it fits the types.

    Except where an environment alone sets a section: the schema cannot require its keys there, so the resolved
    spec lacks what environment-override-incomplete reports, and fits once that is fixed."""
    body = case.body
    if case.rule == "environment-override-incomplete":
        _, path = _write(tmp_path / "broken", case, body)
        assert [p for _, doc in _resolved_examples(path) for p in problems(doc, model.Resolved)] == [
            ".spec.gates.acceptanceTest.cmd: required by AcceptanceTest, absent"]
        body = body.replace(*case.fix)
    _, path = _write(tmp_path, case, body)
    for env, doc in _resolved_examples(path):
        assert problems(doc, model.Resolved, env) == []


def test_shape_check_catches_a_misspelled_key_a_missing_key_and_a_bad_enum():
    _, doc = _resolved_examples(SERVICES[0])[0]
    assert problems(doc, model.Resolved) == []
    bad = copy.deepcopy(doc)
    bad["spec"]["strategy"]["intervall"] = "1m"
    del bad["spec"]["strategy"]["threshold"]
    bad["spec"]["strategy"]["provider"] = "istio"
    found = problems(bad, model.Resolved)
    assert ".spec.strategy.intervall: not declared in Strategy" in found
    assert ".spec.strategy.threshold: required by Strategy, absent" in found
    assert any(p.startswith(".spec.strategy.provider: 'istio' is not one of") for p in found)


def _parse(name: str) -> ast.Module:
    with open(os.path.join(RULES_DIR, name), encoding="utf-8") as fh:
        return ast.parse(fh.read())


# -- no cost at lint start-up -----------------------------------------------------------------------------------------

def test_lint_never_imports_the_types_at_run_time():
    code = ("import sys; from rollouts.lint import lint; from rollouts.lint.rules import all_rules; "
            "from rollouts.project import load_project; lint(load_project(sys.argv[1])); "
            "assert len(all_rules()) > 40; print('rollouts.spec.types' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, ROOT], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_rule_modules_import_the_types_only_for_the_type_checker():
    for name in sorted(os.listdir(RULES_DIR)):
        if not name.endswith(".py"):
            continue
        tree = _parse(name)
        checking = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
        guarded = {id(n) for block in checking for n in ast.walk(block)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("spec.types"):
                assert id(node) in guarded, f"{name}:{node.lineno} imports spec.types at run time"


# -- every hint says how to fix ---------------------------------------------------------------------------------------

def _bad_hint(hint: str, message: str, summary: str) -> str | None:
    text = hint.strip()
    if not text or text == "." or len(text) < 12:
        return f"hint {hint!r} is empty or says nothing"
    if text.rstrip(".").lower() in (message.strip().rstrip(".").lower(), summary.strip().rstrip(".").lower()):
        return f"hint {hint!r} repeats the message or the summary"
    return None


def test_bad_hint_is_caught():
    assert _bad_hint(".", "x is wrong", "X.")
    assert _bad_hint("", "x is wrong", "X.")
    assert _bad_hint("X is wrong.", "x is wrong", "Y.")
    assert _bad_hint("A canary needs steps.", "m", "A canary needs steps.")
    assert _bad_hint("Add steps: [5, 25, 50].", "a canary has no steps", "A canary needs steps.") is None


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.rule)
def test_every_rule_finding_has_a_hint_that_says_how_to_fix(tmp_path, case):
    root, _ = _write(tmp_path, case, case.body)
    summaries = {m.ID: m.SUMMARY for m in all_rules()}
    found = [f for f in lint(load_project(root)).findings if f.rule in summaries]
    assert found
    for f in found:
        assert _bad_hint(f.hint, f.message, summaries[f.rule]) is None, (f.rule, f.hint)


def _finding_calls() -> list[tuple[str, int, ast.expr | None, ast.expr | None]]:
    out = []
    for name in sorted(os.listdir(RULES_DIR)):
        if not name.endswith(".py") or name == "__init__.py":
            continue
        tree = _parse(name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "finding":
                hint = node.args[3] if len(node.args) > 3 else next(
                    (k.value for k in node.keywords if k.arg == "hint"), None)
                message = node.args[2] if len(node.args) > 2 else None
                out.append((name, node.lineno, message, hint))
    return out


def test_every_finding_a_rule_can_yield_passes_a_hint():
    """Branches the rule cases do not reach too: every ctx.finding(...) call passes a hint that is no mere '.'
    and is not its message."""
    calls = _finding_calls()
    assert len(calls) >= len(all_rules())
    for name, line, message, hint in calls:
        assert hint is not None, f"{name}:{line}: no hint"
        if isinstance(hint, ast.Constant):
            assert _bad_hint(str(hint.value), "", "") is None, f"{name}:{line}: {hint.value!r}"
        assert message is None or ast.unparse(hint) != ast.unparse(message), f"{name}:{line}: hint is the message"



def test_rollback_time_target_without_policy_is_the_schemas_default(tmp_path, monkeypatch):
    """The rule writes no default of its own: a spec without policy is held to the schema's maxRollbackTime."""
    from rollouts.lint.rules import rollback_time

    case = next(c for c in CASES if c.rule == "rollback-time")
    root, _ = _write(tmp_path, case, case.body)
    assert [f.rule for f in lint(load_project(root)).findings] == ["rollback-time"]
    longer = copy.deepcopy(schema())
    longer["definitions"]["policy"]["properties"]["maxRollbackTime"]["default"] = "10m"
    monkeypatch.setattr(rollback_time, "schema", lambda: longer)
    assert lint(load_project(root)).findings == []


# -- keys mypy does not check -----------------------------------------------------------------------------------------

SCHEMA_KEYWORDS = {"definitions", "properties", "required", "default"}  # rules that read the schema itself


def _literal_keys(tree: ast.Module) -> list[tuple[int, str]]:
    """String keys a rule reads: ``x.get("k")`` (mypy types an unknown key there as object, silently), ``x["k"]``,
    and the paths it passes to ``ctx.finding``/``ctx.spec.get``/``ctx.spec.position`` (a wrong one points at the
    wrong line)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            out.append((node.lineno, node.slice.value))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            args = node.args
            if node.func.attr == "get" and args and isinstance(args[0], ast.Constant):
                out.append((node.lineno, args[0].value))
            paths = args[1:2] if node.func.attr == "finding" else args[:1]
            if node.func.attr in ("finding", "get", "position"):
                out += [(node.lineno, e.value) for p in paths if isinstance(p, ast.Tuple)
                        for e in p.elts if isinstance(e, ast.Constant)]
    return [(line, key) for line, key in out if isinstance(key, str)]


def test_every_key_a_rule_reads_is_declared_in_the_model():
    declared = {"spec", "environments"} | SCHEMA_KEYWORDS
    for obj in vars(model).values():
        if is_typeddict(obj):
            declared |= set(get_type_hints(obj))
    read = 0
    for name in sorted(os.listdir(RULES_DIR)):
        if name.endswith(".py") and name != "__init__.py":
            for line, key in _literal_keys(_parse(name)):
                read += 1
                assert key in declared, f"{name}:{line}: {key!r} is no key of the resolved spec"
    assert read > 100


def test_key_scan_sees_get_subscript_and_paths():
    tree = ast.parse('x.get("intervall"); y["thresold"]; ctx.finding(env, ("strategy", "stpes"), "m", "h")')
    assert sorted(key for _, key in _literal_keys(tree)) == ["intervall", "stpes", "strategy", "thresold"]
