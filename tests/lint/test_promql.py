"""The PromQL reader behind the metric rules, and the two decisions made with it: can a query be empty while
nothing has failed, and which metric names does it select."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rollouts.lint.promql import MAX_DEPTH, Binary, Call, Matcher, PromQLError, Selector, parse, selectors
from rollouts.lint.rules.metric_not_in_linkerd_viz import mesh_metric
from rollouts.lint.rules.metric_ratio_empty_numerator import empty_ratio, empty_until_failure

SEL = 'namespace="{{ namespace }}", deployment=~"{{ target }}", direction="inbound"'
FAIL = f'sum(rate(response_total{{{SEL}, classification="failure"}}[{{{{ interval }}}}]))'
OK = f'sum(rate(response_total{{{SEL}, classification!="failure"}}[{{{{ interval }}}}]))'
ALL = f"sum(rate(response_total{{{SEL}}}[{{{{ interval }}}}]))"


def test_reads_flaggers_template_query():
    tree = parse(f"{FAIL}\n/\n{ALL}")
    assert isinstance(tree, Binary) and tree.op == "/"
    assert [s.name for s in selectors(tree)] == ["response_total", "response_total"]
    assert Matcher("classification", "=", "failure") in selectors(tree)[0].matchers
    assert Matcher("deployment", "=~", "{{ target }}") in selectors(tree)[0].matchers


@pytest.mark.parametrize(("query", "shape"), [
    ("a / b * 100", "((a / b) * 100)"),
    ("1 - a / b", "(1 - (a / b))"),
    ("a or b and c", "(a or (b and c))"),
    ("2 ^ 3 ^ 2", "(2 ^ (3 ^ 2))"),
    ("a + b > bool 3", "((a + b) > 3)"),
    ("sum by (le) (rate(a[5m:1m] offset 1m)) or on() vector(0)", "(sum(rate(a)) or vector(0))"),
    ("histogram_quantile(0.99, sum(rate(x_bucket[1m])) by (le))", "histogram_quantile(0.99, sum(rate(x_bucket)))"),
    ("a / on(x) group_left(y) b @ end()", "(a / b)"),
    ('{__name__="up", job="viz"}', "up"),
    ("-a ^ 2", "-(a ^ 2)"),
])
def test_operator_precedence_and_modifiers(query, shape):
    def show(node):
        if isinstance(node, Selector):
            return node.name
        if isinstance(node, Binary):
            return f"({show(node.left)} {node.op} {show(node.right)})"
        if isinstance(node, Call):
            return f"{node.func}({', '.join(map(show, node.args))})"
        if hasattr(node, "expr"):
            return f"{node.op}{show(node.expr)}"
        return node.text

    assert show(parse(query)) == shape


def test_variables_are_substituted_before_reading():
    tree = parse('sum(rate({{ variables.metric }}{status_code=~"{{ variables.codes }}"}[1m]))',
                 {"metric": "response_total", "codes": "5.."})
    assert selectors(tree) == [Selector("response_total", (Matcher("status_code", "=~", "5.."),))]


@pytest.mark.parametrize("query", [
    "", "sum(", "a{b=c}", "a{b=}", "sum(x) by (", "a +", "a[5m", "{}", ")", "a{b=\"c\"", "foo{|}",
    "(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1),
    " + ".join(["a"] * (MAX_DEPTH + 1)),
])
def test_what_it_cannot_read_is_a_promql_error(query):
    with pytest.raises(PromQLError):
        parse(query)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([*'ab(){}[],"=~!/+-*^ 5m.:#\n\\', "or", "sum", "by", "{{ x }}", "offset", "@"]),
                max_size=40).map("".join))
def test_any_text_reads_or_raises_promql_error_only(text):
    try:
        tree = parse(text)
    except PromQLError:
        return
    empty_until_failure(tree)
    empty_ratio(tree)
    selectors(tree)


@pytest.mark.parametrize(("query", "empty", "ratio"), [
    (f"{FAIL} / {ALL}", True, True),
    (f"100 * {FAIL} / {ALL}", True, True),
    (f"1 - {FAIL} / {ALL}", True, True),
    (f"({FAIL} or vector(0)) / {ALL}", False, False),
    (f"({FAIL} / {ALL}) or vector(0)", False, False),
    (f"sum(rate(response_total{{{SEL}, classification=\"failure\"}}[1m]) or vector(0)) / {ALL}", False, False),
    (f"1 - {OK} / {ALL}", False, False),
    (f"{ALL} - {OK}", False, False),
    (FAIL, True, False),
    (f"{OK} + {FAIL}", True, False),
    (f"{FAIL} unless {OK}", True, False),
    (f"{OK} unless {FAIL}", False, False),
    (f"{FAIL} or {FAIL}", True, False),
    (f"absent({FAIL})", False, False),
    ('sum(rate(response_total{status_code=~"5.."}[1m])) / sum(rate(response_total[1m]))', True, True),
    ('sum(rate(response_total{status_code!~"2.."}[1m])) / sum(rate(response_total[1m]))', True, True),
    ('sum(rate(response_total{status_code=~"2.."}[1m])) / sum(rate(response_total[1m]))', False, False),
    ('sum(rate(response_total{classification!="success"}[1m]))', True, False),
    ('sum(rate(response_total{classification=~"success|failure"}[1m]))', False, False),
    ('sum(rate(http_requests_total{code="503"}[1m])) / sum(rate(http_requests_total[1m]))', True, True),
    ('sum(rate(grpc_calls{grpc_status_code!="0"}[1m])) / sum(rate(grpc_calls[1m]))', True, True),
    ('sum(rate(response_total{status_code=~"[bad"}[1m]))', False, False),
    ("histogram_quantile(0.99, sum(rate(response_latency_ms_bucket[1m])) by (le))", False, False),
])
def test_empty_until_the_first_failure(query, empty, ratio):
    tree = parse(query)
    assert (empty_until_failure(tree) is not None) == empty
    assert empty_ratio(tree) == ratio


@pytest.mark.parametrize(("name", "mesh"), [
    ("response_total", True), ("request_total", True), ("response_latency_ms_bucket", True),
    ("response_latency_ms_count", True), ("route_response_total", True), ("tcp_open_connections", True),
    ("inbound_http_authz_deny_total", True), ("outbound_http_route_request_duration_seconds_bucket", True),
    ("container_memory_working_set_bytes", True), ("container_memory_failures_total", False),
    ("up", True), ("billing_queue_lag_seconds", False), ("http_request_duration_seconds_bucket", False),
    ("response_latency_ms", False), ("job:response_total:rate1m", False),
])
def test_linkerd_viz_metric_names(name, mesh):
    assert mesh_metric(name) == mesh
