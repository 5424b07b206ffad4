"""PromQL: Flagger's template variables filled in, syntax checked by promtool in one run, errors mapped back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from rollouts.findings import Severity
from rollouts.project import Project
from rollouts.validate.manifests import Locator
from rollouts.validate.promql import Model, check_syntax, fill, validate_queries

TEMPLATE = """
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: {name}
  namespace: shop
spec:
  provider:
    type: {provider}
    address: http://prometheus.linkerd-viz:9090
  query: {query}
"""

CANARY = """
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: {name}
  namespace: shop
spec:
  provider: gatewayapi:v1
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}
  service: {{port: 8080}}
  analysis:
    interval: 1m
    threshold: 3
    stepWeights: [5, 50]
    metrics:
      - name: custom
        templateRef: {{name: {template}}}
        thresholdRange: {{max: 1}}
        interval: 2m
        templateVariables: {variables}
"""

GOOD = ('\'sum(rate(response_total{namespace="{{ namespace }}", deployment=~"{{ target }}", '
        'direction="{{ variables.direction }}"}[{{ interval }}]))\'')
BAD = "'sum(rate(response_total{namespace=\"{{ namespace }}\"}[{{ interval }}])'"


def test_fill_knows_flaggers_functions() -> None:
    model = Model(name="checkout", namespace="shop", target="checkout", service="checkout-svc", interval="2m",
                  variables={"direction": "inbound"})
    text, problems = fill('{{namespace}}/{{ target }}/{{- service -}}/{{ interval }}/{{ variables.direction }}/'
                          '{{ name }}/{{ ingress }}/{{ route }}', model)
    assert (text, problems) == ("shop/checkout/checkout-svc/2m/inbound/checkout//", [])
    _, problems = fill("{{ variables.missing }} {{ now }}", model)
    assert problems == [
        "template variable 'missing' is not set (templateVariables of the Canary metric)",
        "unsupported template expression {{ now }} (Flagger knows name, namespace, target, service, ingress, "
        "route, interval, variables.<key>)",
    ]


def test_syntax_check_batches_and_maps_back(tool: Callable[[str], str]) -> None:
    promtool = tool("promtool")
    queries = ["sum(rate(x[1m]))", "sum(rate(x[1m])", "up", "rate(x[1m]) / foo bar"]
    errors = check_syntax(queries, promtool)
    assert sorted(errors) == [1, 3]
    assert "unclosed left parenthesis" in errors[1]
    assert "unexpected identifier" in errors[3]
    assert check_syntax(queries[:1], promtool) == {}


def _tree(project: Callable[..., Project], files: dict[str, str]) -> tuple[Project, str]:
    proj = project(files)
    return proj, str(Path(proj.root) / "flux")


def test_clean_queries(project: Callable[..., Project], tool: Callable[[str], str]) -> None:
    tool("promtool")
    proj, tree = _tree(project, {"apps/shop/checkout.yaml": TEMPLATE.format(name="m", provider="prometheus",
                                                                             query=GOOD)
                                 + "---" + CANARY.format(name="checkout", template="m",
                                                         variables="{direction: inbound}")})
    assert validate_queries(tree, Locator(proj.root)) == []


def test_syntax_error_is_reported_on_the_template(project: Callable[..., Project],
                                                  tool: Callable[[str], str]) -> None:
    tool("promtool")
    proj, tree = _tree(project, {
        "apps/shop/m.yaml": TEMPLATE.format(name="m", provider="prometheus", query=BAD),
        "apps/shop/a.yaml": CANARY.format(name="a", template="m", variables="{}"),
        "apps/shop/b.yaml": CANARY.format(name="b", template="m", variables="{}"),
    })
    findings = validate_queries(tree, Locator(proj.root))
    # two canaries fill it differently; both fail the same way: one finding on the template
    assert [(f.rule, f.file, f.line, f.column, f.path, f.resource) for f in findings] == [
        ("promql-syntax", "flux/apps/shop/m.yaml", 10, 10, "/spec/query", "MetricTemplate shop/m")]
    assert "unclosed left parenthesis" in findings[0].message
    assert "query line 1" in findings[0].message


def test_syntax_error_is_reported_at_the_spec_line_through_origins(project: Callable[..., Project],
                                                                   tool: Callable[[str], str]) -> None:
    tool("promtool")
    proj, tree = _tree(project, {
        "apps/shop/m.yaml": TEMPLATE.format(name="m", provider="prometheus", query=BAD),
        "apps/shop/a.yaml": CANARY.format(name="a", template="m", variables="{}"),
    })
    origins = {"MetricTemplate/shop/m": {"": ("services/a/rollouts.yaml", 30, 7),
                                         "/spec/query": ("services/a/rollouts.yaml", 31, 14)}}
    findings = validate_queries(tree, Locator(proj.root, origins))
    assert [(f.file, f.line, f.column) for f in findings] == [("services/a/rollouts.yaml", 31, 14)]
    assert "rendered at flux/apps/shop/m.yaml:10:10" in findings[0].message


def test_missing_variable_is_reported_on_the_canary_metric(project: Callable[..., Project],
                                                           tool: Callable[[str], str]) -> None:
    tool("promtool")
    proj, tree = _tree(project, {
        "apps/shop/m.yaml": TEMPLATE.format(name="m", provider="prometheus", query=GOOD),
        "apps/shop/a.yaml": CANARY.format(name="a", template="m", variables="{other: x}"),
    })
    findings = validate_queries(tree, Locator(proj.root))
    assert [(f.rule, f.file, f.path, f.severity) for f in findings] == [
        ("promql-template", "flux/apps/shop/a.yaml", "/spec/analysis/metrics/0", Severity.ERROR)]
    assert "'direction'" in findings[0].message


def test_unused_and_non_prometheus_templates(project: Callable[..., Project], tool: Callable[[str], str]) -> None:
    tool("promtool")
    proj, tree = _tree(project, {
        "apps/shop/unused.yaml": TEMPLATE.format(name="unused", provider="prometheus", query=BAD),
        "apps/shop/dd.yaml": TEMPLATE.format(name="dd", provider="datadog", query="'avg:not.promql{*}'"),
    })
    findings = validate_queries(tree, Locator(proj.root))
    assert [(f.rule, f.file) for f in findings] == [("promql-syntax", "flux/apps/shop/unused.yaml")]
    assert "placeholders" in findings[0].message


def test_without_promtool_it_says_so(project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch) -> None:
    from rollouts.validate import promql

    monkeypatch.setattr(promql, "find_promtool", lambda: None)  # promtool "not installed"
    proj, tree = _tree(project, {"apps/shop/m.yaml": TEMPLATE.format(name="m", provider="prometheus", query=GOOD)})
    findings = validate_queries(tree, Locator(proj.root))
    assert [(f.rule, f.severity) for f in findings] == [("promql-unchecked", Severity.WARNING)]
    assert "apt-get install" in findings[0].hint


def test_positions_are_counted_in_the_query_as_written() -> None:
    from rollouts.validate.promql import fill_spans, written_position

    written = 'sum(rate(x{namespace="{{ namespace }}"}[{{ interval }}]) by (pod) foo\n/\nup{job="{{ target }}"} bar\n'
    for namespace in ("shop", "a-much-longer-staging-namespace"):
        filled, problems, spans = fill_spans(written, Model(name="c", namespace=namespace, target="checkout-api"))
        assert problems == []
        col = filled.index("foo") + 1  # promtool: 1-based, in bytes of the filled-in query
        assert written_position(written, filled, spans, 1, col) == (1, written.index("foo") + 1)
        third = filled.split("\n")[2]
        assert written_position(written, filled, spans, 3, third.index("bar") + 1) == (3, 24)
        # inside a filled-in value: its {{ ... }}; past the end (unclosed): the end of the last line
        assert written_position(written, filled, spans, 1, filled.index(namespace) + 2) == (1, 23)
        assert written_position(written, filled, spans, 4, 1) == (3, 27)
    # a multi-byte character before the error: promtool counts bytes, the editor characters
    written = 'x{a="é"} {{ name }} y'
    filled, _, spans = fill_spans(written, Model(name="checkout", namespace="n", target="t"))
    assert written_position(written, filled, spans, 1, len(filled.encode()) - 0) == (1, len(written))


SPEC = """\
apiVersion: rollouts/v1alpha1
spec:
  metrics:
    - name: custom
      query: |
        sum(rate(response_total{namespace="{{ namespace }}", deployment=~"{{ target }}" direction="inbound"}[1m]))
      max: 1
"""


def test_one_finding_for_every_environment_at_the_spec_query_column(project: Callable[..., Project],
                                                                      tool: Callable[[str], str]) -> None:
    tool("promtool")
    query = SPEC.split("\n")[5].strip()
    files = {}
    origins = {}
    for namespace in ("shop", "shop-staging"):  # the same spec rendered for two environments
        files[f"apps/{namespace}/m.yaml"] = TEMPLATE.format(name="m", provider="prometheus",
                                                             query=json.dumps(query)).replace("shop", namespace)
        files[f"apps/{namespace}/c.yaml"] = CANARY.format(name="checkout", template="m",
                                                           variables="{}").replace("shop", namespace)
        origins[f"MetricTemplate/{namespace}/m"] = {"/spec/query": ("services/checkout/rollouts.yaml", 5, 14)}
    proj, tree = _tree(project, files)
    (Path(proj.root) / "services/checkout").mkdir(parents=True)
    (Path(proj.root) / "services/checkout/rollouts.yaml").write_text(SPEC)
    findings = validate_queries(tree, Locator(proj.root, origins))
    column = query.index("direction") + 1
    assert [(f.rule, f.file, f.line, f.column) for f in findings] == [
        ("promql-syntax", "services/checkout/rollouts.yaml", 6, 8 + column)]
    assert f"at query line 1, column {column}: " in findings[0].message
    assert "(filled in for Canary shop-staging/checkout and 1 more)" in findings[0].message


def test_a_plain_one_line_query_is_pointed_at_its_column(project: Callable[..., Project],
                                                         tool: Callable[[str], str]) -> None:
    tool("promtool")
    query = 'sum(rate(x{namespace="{{ namespace }}"}[1m])) foo'
    proj, tree = _tree(project, {"apps/shop/m.yaml": TEMPLATE.format(name="m", provider="prometheus",
                                                                      query=json.dumps(query)),
                                 "apps/shop/c.yaml": CANARY.format(name="c", template="m", variables="{}")})
    (Path(proj.root) / "rollouts.yaml").write_text(f"metrics:\n  - query: {query}\n")
    origins = {"MetricTemplate/shop/m": {"/spec/query": ("rollouts.yaml", 2, 12)}}
    findings = validate_queries(tree, Locator(proj.root, origins))
    assert [(f.line, f.column) for f in findings] == [(2, 12 + query.index("foo"))]
