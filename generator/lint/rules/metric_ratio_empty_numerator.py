"""A custom query that returns nothing until the first failure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...findings import Finding, Severity
from ..promql import Binary, Call, Literal, Matcher, Node, PromQLError, Selector, Unary, children, parse

if TYPE_CHECKING:
    from . import Context

ID = "metric-ratio-empty-numerator"
SEVERITY = Severity.ERROR
SUMMARY = "A custom query must not depend on failure series alone (add or vector(0), or use 1 - success/total)."
REASON = """\
The Linkerd proxy creates a series of response_total for each label set it has seen: the classification="failure"
series (and each status_code 5xx series) appears only after the first failed response. A query whose numerator
selects failures is therefore an empty vector while the canary is perfect, and so is any ratio or sum built on it
(application metrics with a status label behave alike: a labelled series is created with its first sample).
Flagger's Prometheus provider turns an empty (or NaN) result into ErrNoValuesFound, "Halt advancement no values
found for custom metric", a failed check, and a canary without a single error is rolled back (fluxcd/flagger
pkg/metrics/providers/prometheus.go and pkg/controller/scheduler_metrics.go; linkerd/website
linkerd.io/content/2-edge/reference/proxy-metrics.md; maintainers' advice in fluxcd/flagger#1353: write queries
that return a value when there are no metrics). `(sum(failures) or vector(0)) / sum(total)` reads 0 instead, as
does `1 - sum(successes) / sum(total)`."""

# label -> (the value of a series that exists from the first request, values that appear only on failures)
_FAILURE_LABELS = {
    "classification": ("success", ("failure",)),
    "status_code": ("200", ("500", "502", "503", "504", "400", "404", "429")),
    "http_status": ("200", ("500", "502", "503", "504", "400", "404", "429")),
    "code": ("200", ("500", "502", "503", "504", "400", "404", "429")),
    "status": ("200", ("500", "502", "503", "504", "400", "404", "429")),
    "grpc_status_code": ("0", ("2", "4", "13", "14")),
}
_NEVER_EMPTY = ("absent", "absent_over_time")  # 1 when their argument is empty


def failure_only(matcher: Matcher) -> bool:
    """The matcher drops the series every serving workload has and keeps some failure series."""
    known = _FAILURE_LABELS.get(matcher.label)
    if known is None:
        return False
    ok, failures = known
    return not matcher.matches(ok) and any(matcher.matches(v) for v in failures)


def empty_until_failure(node: Node) -> Matcher | None:
    """The failure matcher that makes ``node`` empty (or NaN) while nothing has failed yet, if one does."""
    if isinstance(node, Selector):
        return next((m for m in node.matchers if failure_only(m)), None)
    if isinstance(node, Literal) or (isinstance(node, Call) and node.func in _NEVER_EMPTY):
        return None
    if isinstance(node, Binary) and node.op in ("or", "unless"):
        left = empty_until_failure(node.left)
        if node.op == "unless" or left is None:
            return left
        return left if empty_until_failure(node.right) else None  # or: empty only when both sides are
    if isinstance(node, Call | Unary | Binary):
        return next((m for m in map(empty_until_failure, children(node)) if m is not None), None)
    return None


def empty_ratio(node: Node) -> bool:
    """``node`` is empty until a failure because a division on the way has the failure selector in its numerator."""
    if empty_until_failure(node) is None:
        return False
    if isinstance(node, Binary) and node.op == "/" and empty_until_failure(node.left):
        return True
    return any(empty_ratio(child) for child in children(node))


def check(ctx: Context) -> Iterator[Finding]:
    for env, spec in ctx.each():
        for i, metric in enumerate(spec.get("metrics") or []):
            try:
                tree = parse(metric["query"], metric.get("variables"))
            except PromQLError:
                continue  # not for this rule to report; promtool checks the rendered MetricTemplate
            matcher = empty_until_failure(tree)
            if matcher is None:
                continue
            if empty_ratio(tree):
                message = (f"the numerator of metric {metric['name']!r} selects {matcher}, a series that exists only "
                           "after the first failure: a perfect canary returns no value and Flagger fails the check")
                hint = ("Write (sum(...) or vector(0)) / sum(...) for the numerator, "
                        "or 1 - sum(successes) / sum(total).")
            else:
                message = (f"metric {metric['name']!r} selects {matcher}, a series that exists only after the first "
                           "failure: a perfect canary returns no value and Flagger fails the check")
                hint = "Append `or vector(0)` so that no failures read 0."
            yield ctx.finding(env, ("metrics", i, "query"), message, hint)
