"""The one YAML-safe filter and the template engine's refusals."""

from __future__ import annotations

import math

import pytest
import yaml
import yaml_rs
from jinja2.exceptions import TemplateAssertionError, UndefinedError
from rollouts.render.engine import environment
from rollouts.render.safe import RenderValueError, to_yaml

TRICKY = [
    "plain", "", " leading", "trailing ", "a: b", "- item", "---", "...", "{{ target }}", "{% raw %}", "#comment",
    "'single'", '"double"', "back\\slash", "new\nline", "crlf\r\n", "tab\there", "nul\x00", "bell\x07",
    "del\x7f", "nel\x85", "line sep\u2028", "para sep\u2029", "bom\ufeff", "\ufffe", "é ü ß 中文", "emoji 😀",
    "yes", "no", "on", "off", "null", "~", "true", "1e3", "0x1F", "012", "1:30", "2024-01-01", "*alias", "&anchor",
    "!tag", "%YAML", "@at", "`tick`", "|", ">", "[1, 2]", "{a: 1}", "? key", "x" * 5000,
]


@pytest.mark.parametrize("value", TRICKY, ids=range(len(TRICKY)))
def test_every_string_comes_back_unchanged(value: str) -> None:
    doc = f"key: {to_yaml(value)}\nlist:\n  - {to_yaml(value)}\n"
    # parse_datetime=False as the renderer uses it: yaml-rs 0.1 turns even a quoted "2024-01-01" into a date
    assert yaml_rs.loads(doc, parse_datetime=False) == {"key": value, "list": [value]}
    assert yaml.load(doc, Loader=yaml.CSafeLoader) == {"key": value, "list": [value]}
    assert "\n" not in to_yaml(value)


@pytest.mark.parametrize("value", [0, -5, 10**20, 0.01, 99.9, True, False, None, [1, "a"], {"k": {"n": [True]}},
                                   {"a: b": "---\n", "#": ["{{ x }}"]}])
def test_other_values_come_back_unchanged(value: object) -> None:
    doc = f"key: {to_yaml(value)}\n"
    assert yaml_rs.loads(doc, parse_datetime=False) == {"key": value}
    assert yaml.load(doc, Loader=yaml.CSafeLoader) == {"key": value}


@pytest.mark.parametrize("value", [math.nan, math.inf, {"k" * 2000: 1}, "\ud800", {1: "int key"}, object()])
def test_values_without_a_safe_form_are_refused(value: object) -> None:
    with pytest.raises(RenderValueError):
        to_yaml(value)


@pytest.mark.parametrize("source", ["name: {{ name }}\n", "name: {{ name | yaml | upper }}\n",
                                    "{% if false %}never: {{ name | upper }}{% endif %}\n", "{{ 'kind: Secret' }}"])
def test_a_template_cannot_print_a_value_without_the_filter(source: str) -> None:
    with pytest.raises(TemplateAssertionError, match=r"must end in \| yaml"):
        environment().from_string(source)


def test_every_shipped_template_passes_the_filter_check() -> None:
    env = environment()
    names = env.list_templates()
    assert len(names) > 15
    for name in names:
        env.get_template(name)


def test_templates_run_with_strict_undefined() -> None:
    with pytest.raises(UndefinedError):
        environment().from_string("name: {{ missing | yaml }}\n").render()


def test_flagger_template_syntax_in_a_value_is_printed_literally() -> None:
    query = 'sum(rate(x{deployment=~"{{ target }}"}[{{ interval }}])) {% if %}'
    out = environment().from_string("query: {{ q | yaml }}\n").render(q=query)
    assert yaml_rs.loads(out, parse_datetime=False) == {"query": query}


def test_render_text_is_strict_too() -> None:
    from rollouts.render.engine import Doc, Expected, render_text

    doc = Doc("apps/pdb.yaml.j2", {"name": "x", "namespace": "y", "labels": {}},
              Expected("policy/v1", "PodDisruptionBudget", "x", "y"))
    with pytest.raises(UndefinedError):
        render_text([doc])


def test_parse_back_refuses_a_document_that_is_not_what_was_meant() -> None:
    from rollouts.render.engine import Doc, Expected, RenderCheckError, parse_back

    want = Doc("apps/kustomization.yaml.j2", {}, Expected("v1", "ConfigMap", "x", "y"))
    with pytest.raises(RenderCheckError, match="expected"):
        parse_back("f.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: y}\n", [want])
    with pytest.raises(RenderCheckError, match="2 document"):
        parse_back("f.yaml", "a: 1\n", [want, want])
    with pytest.raises(RenderCheckError, match="does not parse"):
        parse_back("f.yaml", "a: [1\n", [want])
    with pytest.raises(RenderCheckError):
        parse_back("f.yaml", "apiVersion: v1\napiVersion: v1\n", [want])  # duplicate keys are refused
