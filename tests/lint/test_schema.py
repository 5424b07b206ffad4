"""The published JSON Schema: a valid draft-07 schema, every property described, override definitions derived from
their sections, and the built-in walker (generator/spec/schema.py) agreeing with the reference validator."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from rollouts.lint import lint_spec
from rollouts.project import Project
from rollouts.spec import schema as walker
from rollouts.spec.load import Spec, load
from rollouts.spec.resolve import to_plain
from spec_derive import derive, dump
from spec_paths import every_path, with_value

SCHEMA = walker.schema()
NAMED_SCHEMAS = ("properties", "definitions")  # keywords whose value maps names to schemas
SCHEMA_VALUED = ("additionalProperties", "items", "propertyNames", "if", "then", "else")
SCHEMA_LISTS = ("anyOf", "allOf")
EXAMPLES = ("checkout", "frontend", "billing-worker")


def _nodes(node: dict[str, Any], where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node (not property names, not values of const/enum/default/examples)."""
    yield where, node
    for keyword in NAMED_SCHEMAS:
        for name, sub in node.get(keyword, {}).items():
            yield from _nodes(sub, f"{where}/{keyword}/{name}")
    for keyword in SCHEMA_VALUED:
        if isinstance(node.get(keyword), dict):
            yield from _nodes(node[keyword], f"{where}/{keyword}")
    for keyword in SCHEMA_LISTS:
        for i, sub in enumerate(node.get(keyword, [])):
            yield from _nodes(sub, f"{where}/{keyword}/{i}")


def test_schema_is_valid_draft_07():
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_every_property_has_a_description():
    missing = []
    for where, node in _nodes(SCHEMA):
        for name, sub in node.get("properties", {}).items():
            target = walker.resolve_ref(sub)
            if not str(target.get("description", "")).strip():
                missing.append(f"{where}/properties/{name}")
    assert missing == []


def test_walker_supports_every_keyword_the_schema_uses():
    used = {keyword for _, node in _nodes(SCHEMA) for keyword in node}
    assert used - walker.SUPPORTED == set()


def test_override_definitions_are_derived_from_their_sections():
    """Edit the base section, then run `python scripts/spec_derive.py`."""
    with open(walker.SCHEMA_FILE, encoding="utf-8") as fh:
        text = fh.read()
    assert dump(derive(json.loads(text))) == text


def test_every_section_can_be_overridden():
    spec_props = set(SCHEMA["properties"]["spec"]["properties"]) - {"environments"}
    assert set(SCHEMA["definitions"]["environment"]["properties"]) == spec_props


# Values that each break some part of the schema: wrong types, out of range, bad formats.
REPLACEMENTS = [None, True, -1, 0, 7, 250000, 2.5, "", "x", "1h", "UPPER/case", "latest", [], [1, 1], {}, {"k": "v"}]




def _delete(doc: Any, path: tuple[Any, ...]) -> Any:
    out = copy.deepcopy(doc)
    node = out
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    return out


@functools.cache
def _corpus() -> list[tuple[str, Any]]:
    return list(_mutations())


def _mutations() -> Iterator[tuple[str, Any]]:
    for name in EXAMPLES:
        spec, findings = load(f"services/{name}/rollouts.yaml")
        assert spec is not None and findings == []
        doc = to_plain(spec.data)
        yield f"{name}", doc
        for path in every_path(doc):
            if not path:
                continue
            for value in REPLACEMENTS:
                yield f"{name}:{'.'.join(map(str, path))}={value!r}", with_value(doc, path, value)
            if isinstance(path[-1], str):
                yield f"{name}:-{'.'.join(map(str, path))}", _delete(doc, path)
        for path in every_path(doc):
            node = doc
            for step in path:
                node = node[step]
            if isinstance(node, dict):
                yield f"{name}:{'.'.join(map(str, path))}+unknown", with_value(doc, (*path, "unknownKey"), 1) if path \
                    else {**doc, "unknownKey": 1}


def test_walker_agrees_with_jsonschema_on_a_corpus():
    reference = jsonschema.Draft7Validator(SCHEMA)
    disagreements = []
    valid = invalid = 0
    for name, doc in _corpus():
        expected = reference.is_valid(doc)
        got = walker.check(Spec("rollouts.yaml", "", doc)) == []
        valid += expected
        invalid += not expected
        if expected != got:
            disagreements.append(name)
    assert disagreements == []
    assert valid > 50 and invalid > 1000  # both verdicts are well represented


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_carry_the_schema_modeline(root, name):
    first = (root / "services" / name / "rollouts.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../generator/spec/rollouts.schema.json"


def test_no_mutation_of_the_examples_crashes_the_rules():
    """Whatever the schema says about a document, the rules report or skip; they never raise (exit 3)."""
    project = Project(".")
    for name, doc in _corpus():
        try:
            lint_spec(Spec("services/checkout/rollouts.yaml", "", doc), project)
        except Exception as e:  # pragma: no cover - the failure message names the mutation
            pytest.fail(f"{name}: {type(e).__name__}: {e}")


def test_the_schema_takes_step_weight_for_a_canary_and_asks_for_steps_without_it():
    def owned(strategy: dict[str, object]) -> list[tuple[str, str]]:
        doc = {"apiVersion": "rollouts/v1alpha1", "kind": "ServiceRollout",
               "metadata": {"name": "web", "namespace": "shop", "owner": "team"},
               "spec": {"workload": {"chart": {"repository": "oci://r.example/c/web", "version": "1.0.0"}},
                        "strategy": strategy}}
        result = walker.examine(Spec("rollouts.yaml", "", doc))  # type: ignore[arg-type]
        return [(rule, f.message) for rule, f in result.owned] + [(f.rule, f.message) for f in result.findings
                                                                  if not any(f is g for _, g in result.owned)]

    assert owned({"type": "canary", "stepWeight": 10, "maxWeight": 50}) == []
    assert owned({"type": "canary", "steps": [10]}) == []
    assert owned({"type": "canary", "maxWeight": 50}) == [
        ("canary-without-steps", "spec.strategy: missing required key 'steps'")]
