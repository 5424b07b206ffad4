"""PromQL of every MetricTemplate in the tree, filled in as Flagger fills it, and of every PrometheusRule (the SLO
rules: recording and alerting expressions, as written), syntax-checked by promtool.

Flagger renders a MetricTemplate query per Canary metric that references it, as a Go template with the functions
``name``, ``namespace``, ``target``, ``service``, ``ingress``, ``route``, ``interval`` and ``variables.<key>``
(``missingkey=error``: an unknown variable fails the analysis). Each (template, canary metric) pair is filled the
same way here; a template no Canary uses is filled with placeholders so its syntax is still checked. All queries
go to one ``promtool check rules`` file (one record rule each) and every error is mapped back to its rule.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import tools
from ..errors import RolloutsError
from ..findings import Finding, Severity
from .manifests import MANIFEST_SUFFIXES, Document, Locator, tree_files

FUNCTIONS = ("name", "namespace", "target", "service", "ingress", "route", "interval")
INSTALL_HINT = "Install promtool: `apt-get install --no-install-recommends prometheus` (Debian/Ubuntu)."
_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
_ERROR = re.compile(r'^.*?: \d+:\d+: group "[^"]*", rule \d+, "rollouts:query_(\d+)": (.*)$')
_POS = re.compile(r"^could not parse expression: (\d+):(\d+): (.*)$", re.S)


@dataclass
class Model:
    """What Flagger knows when it renders a query for one Canary metric."""

    name: str
    namespace: str
    target: str
    service: str = ""
    ingress: str = ""
    route: str = ""
    interval: str = "1m"
    variables: dict[str, str] = field(default_factory=dict)


Span = tuple[int, int, int, int]  # a filled-in action: (start, end) in the filled-in query, (start, end) as written


def fill(query: str, model: Model) -> tuple[str, list[str]]:
    """The query with every ``{{ ... }}`` replaced, and what Flagger would refuse to render."""
    text, problems, _ = fill_spans(query, model)
    return text, problems


def fill_spans(query: str, model: Model) -> tuple[str, list[str], list[Span]]:
    """:func:`fill`, and where each action was (to point at a position in the query as the user wrote it)."""
    problems: list[str] = []

    def action(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        if expr in FUNCTIONS:
            return str(getattr(model, expr))
        if expr.startswith("variables."):
            key = expr[len("variables."):]
            if key in model.variables:
                return str(model.variables[key])
            problems.append(f"template variable {key!r} is not set (templateVariables of the Canary metric)")
            return key
        problems.append(f"unsupported template expression {{{{ {expr} }}}} (Flagger knows "
                        + ", ".join(FUNCTIONS) + ", variables.<key>)")
        return "0"

    text, spans = _substitute(query, action)
    return text, problems, spans


def _substitute(query: str, replace: Callable[[re.Match[str]], str]) -> tuple[str, list[Span]]:
    pieces: list[str] = []
    spans: list[Span] = []
    pos = length = 0
    for m in _ACTION.finditer(query):
        value = replace(m)
        length += m.start() - pos
        spans.append((length, length + len(value), m.start(), m.end()))
        pieces += [query[pos:m.start()], value]
        length += len(value)
        pos = m.end()
    pieces.append(query[pos:])
    return "".join(pieces), spans


def written_position(written: str, filled: str, spans: list[Span], line: int, column: int) -> tuple[int, int]:
    """promtool's ``line:column`` in the filled-in query (column in bytes) as (line, column) in the query as
    written (column in characters); a position inside a filled-in value is its ``{{ ... }}``."""
    data = filled.encode("utf-8")
    start = 0
    for _ in range(line - 1):
        start = data.find(b"\n", start) + 1
        if not start:
            start = len(data)
            break
    offset = len(data[:max(0, start + column - 1)].decode("utf-8", "ignore"))
    shift = 0
    for filled_start, filled_end, written_start, written_end in spans:
        if offset < filled_start:
            break
        if offset < filled_end:
            shift = written_start - offset
            break
        shift = written_end - filled_end
    offset = min(offset + shift, len(written.rstrip("\n")))  # past the end (an unclosed parenthesis): the end
    before = written[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


@dataclass
class Query:
    """One filled query and where it comes from (the MetricTemplate, and the Canary metric that uses it)."""

    text: str
    file: str  # the rendered file of the MetricTemplate (or of the Canary for an inline query)
    source: dict[str, Any]  # that object
    pointer: str
    label: str  # for whom it was filled: "Canary shop/checkout" or "placeholders"
    written: str = ""  # the query as the MetricTemplate (the spec) writes it, before filling in
    spans: list[Span] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str((self.source.get("metadata") or {}).get("name") or "")

    def doc(self, locator: Locator) -> Document | None:
        """The object with positions (parsed only when there is something to report)."""
        return _find(locator, self.file, self.source)


@dataclass
class _Template:
    file: str
    data: dict[str, Any]
    used: bool = False


def _load(tree: str, documents: Mapping[str, list[Any]], files: list[str] | None = None) -> tuple[
        dict[tuple[str, str], _Template], list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """MetricTemplates (by namespace, name) with a Prometheus provider, Canaries and PrometheusRules, from the
    rendered files (``documents``: those already read, by path; ``files``: the tree's files, when already
    listed)."""
    templates: dict[tuple[str, str], _Template] = {}
    canaries: list[tuple[str, dict[str, Any]]] = []
    rules: list[tuple[str, dict[str, Any]]] = []
    for path in tree_files(tree) if files is None else files:
        if not path.endswith(MANIFEST_SUFFIXES):
            continue
        docs = documents.get(path)
        if docs is None:
            try:
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
                if "MetricTemplate" not in text and "Canary" not in text and "PrometheusRule" not in text:
                    continue
                docs = load_documents(text)
            except (OSError, ValueError):
                continue  # kubeconform reports unreadable files
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "PrometheusRule" and \
                    str(doc.get("apiVersion", "")).startswith("monitoring.coreos.com/"):
                rules.append((path, doc))
                continue
            if not isinstance(doc, dict) or not str(doc.get("apiVersion", "")).startswith("flagger.app/"):
                continue
            meta = doc.get("metadata") or {}
            if doc.get("kind") == "MetricTemplate":
                provider = ((doc.get("spec") or {}).get("provider") or {}).get("type", "prometheus")
                if provider == "prometheus":
                    templates[(str(meta.get("namespace") or ""), str(meta.get("name") or ""))] = _Template(
                        path, doc)
            elif doc.get("kind") == "Canary":
                canaries.append((path, doc))
    return templates, canaries, rules


def load_documents(text: str) -> list[Any]:
    """Every document of a YAML text (yaml-rs: ten times PyYAML's speed); ValueError when broken."""
    import yaml_rs

    try:
        loaded = yaml_rs.loads(text, parse_datetime=False)
    except yaml_rs.YAMLDecodeError as e:
        raise ValueError(str(e)) from e
    # one document comes back as itself, several as a list (a lone top-level list is no manifest either way)
    return loaded if isinstance(loaded, list) else [loaded]


def collect(tree: str, locator: Locator, documents: Mapping[str, list[Any]] | None = None,
            files: list[str] | None = None) -> tuple[list[Query], list[Finding]]:
    """Every query Flagger would send to Prometheus, filled in; template problems as findings. ``documents``: files
    already read (path -> documents), not read again."""
    templates, canaries, rules = _load(tree, documents or {}, files)
    queries: list[Query] = []
    findings: list[Finding] = []
    for file, canary in canaries:
        meta = canary.get("metadata") or {}
        spec = canary.get("spec") or {}
        name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
        target = str((spec.get("targetRef") or {}).get("name") or "")
        base = Model(name=name, namespace=namespace, target=target,
                     service=str((spec.get("service") or {}).get("name") or target),
                     ingress=str((spec.get("ingressRef") or {}).get("name") or ""),
                     route=str((spec.get("routeRef") or {}).get("name") or ""))
        for i, metric in enumerate((spec.get("analysis") or {}).get("metrics") or []):
            if not isinstance(metric, dict):
                continue
            variables = metric.get("templateVariables") or {}
            model = Model(**{**base.__dict__, "interval": str(metric.get("interval") or "1m"),
                             "variables": {str(k): str(v) for k, v in variables.items()}})
            ref = metric.get("templateRef")
            label = f"Canary {namespace}/{name}"
            if isinstance(ref, dict):
                key = (str(ref.get("namespace") or namespace), str(ref.get("name") or ""))
                template = templates.get(key)
                if template is None:
                    continue  # not a Prometheus template here (another provider, or applied elsewhere)
                template.used = True
                source_file, source, pointer = template.file, template.data, "/spec/query"
                query = str((template.data.get("spec") or {}).get("query") or "")
            elif isinstance(metric.get("query"), str):
                source_file, source, pointer = file, canary, f"/spec/analysis/metrics/{i}/query"
                query = metric["query"]
            else:
                continue  # a Flagger builtin (request-success-rate, request-duration)
            text, problems, spans = fill_spans(query, model)
            for problem in problems:
                canary_doc = _find(locator, file, canary)
                findings.append(locator.finding(
                    "promql-template", file, canary_doc, f"/spec/analysis/metrics/{i}",
                    f"metric {metric.get('name', i)!s}: {problem}",
                    "Set the variable under the metric's templateVariables, or remove it from the query."))
            if not problems:
                queries.append(Query(text, source_file, source, pointer, label, query, spans))
    for (namespace, name), template in sorted(templates.items()):
        if template.used:
            continue
        model = Model(name=name, namespace=namespace, target=name, service=name)
        query = str((template.data.get("spec") or {}).get("query") or "")
        text, spans = _substitute(query, functools.partial(_placeholder, model=model))
        queries.append(Query(text, template.file, template.data, "/spec/query",
                             "placeholders (no Canary uses this template)", query, spans))
    for file, rule in rules:
        meta = rule.get("metadata") or {}
        label = f"PrometheusRule {meta.get('namespace') or ''}/{meta.get('name') or ''}"
        groups = (rule.get("spec") or {}).get("groups") or []
        for g, group in enumerate(groups if isinstance(groups, list) else []):
            entries = group.get("rules") if isinstance(group, dict) else None
            for r, entry in enumerate(entries if isinstance(entries, list) else []):
                expr = entry.get("expr") if isinstance(entry, dict) else None
                if isinstance(expr, str):  # an integer expr is a number: nothing to parse
                    queries.append(Query(expr, file, rule, f"/spec/groups/{g}/rules/{r}/expr", label, expr))
    return queries, findings


def _placeholder(match: re.Match[str], model: Model) -> str:
    expr = match.group(1).strip()
    if expr in FUNCTIONS:
        return str(getattr(model, expr))
    return expr.rpartition(".")[2] or "placeholder"


def _find(locator: Locator, file: str, data: dict[str, Any]) -> Document | None:
    meta = data.get("metadata") or {}
    return locator.find(file, str(data.get("kind") or ""), str(meta.get("name") or ""),
                        str(data.get("apiVersion") or ""))


def find_promtool() -> str | None:
    return tools.find("promtool")


def check_syntax(texts: list[str], promtool: str) -> dict[int, str]:
    """Index -> promtool's parse error, for every query that does not parse; one promtool run for all."""
    if not texts:
        return {}
    rules = [{"record": f"rollouts:query_{i}", "expr": text} for i, text in enumerate(texts)]
    with tempfile.TemporaryDirectory(prefix="rollouts-promql-") as tmp:
        path = os.path.join(tmp, "queries.rules.yml")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"groups": [{"name": "rollouts", "rules": rules}]}, fh)  # JSON is YAML
        proc = tools.run([promtool, "check", "rules", "--lint=none", path])
    errors: dict[int, str] = {}
    for line in (proc.stderr + proc.stdout).splitlines():
        m = _ERROR.match(line)
        if m:
            errors[int(m.group(1))] = m.group(2)
    if proc.returncode != 0 and not errors:
        raise RolloutsError(f"promtool check rules failed: {(proc.stderr or proc.stdout).strip()[:2000]}",
                            "Check promtool works: promtool --version.")
    return errors


def validate_queries(tree: str, locator: Locator, documents: Mapping[str, list[Any]] | None = None,
                     files: list[str] | None = None) -> list[Finding]:
    queries, findings = collect(tree, locator, documents, files)
    if not queries:
        return findings
    promtool = find_promtool()
    if promtool is None:
        findings.append(Finding("promql-unchecked", Severity.WARNING, locator.relative(tree), 0, 0,
                                f"promtool is not installed: {len(queries)} PromQL queries were not checked",
                                INSTALL_HINT))
        return findings
    unique = sorted({q.text for q in queries})
    index = {text: i for i, text in enumerate(unique)}
    errors = check_syntax(unique, promtool)
    # one finding per place and problem: the same query rendered for every environment (and Canary) fails the
    # same way at the same spot of what the user wrote, however its filled-in values shift promtool's columns
    found: dict[tuple[Any, ...], tuple[Query, str, int, int, list[str]]] = {}
    for query in queries:
        problem = errors.get(index[query.text])
        if problem is None:
            continue
        m = _POS.match(problem)
        line, column = written_position(query.written, query.text, query.spans, int(m.group(1)),
                                        int(m.group(2))) if m else (0, 0)
        reason = m.group(3) if m else problem
        where = locator.finding("promql-syntax", query.file, query.doc(locator), query.pointer, "",
                                text_line=line, text_column=column)
        key = (where.file, where.line, where.column, reason, line, column)
        if key in found:
            found[key][4].append(query.label)
        else:
            found[key] = (query, reason, line, column, [query.label])
    for query, reason, line, column, labels in found.values():
        at = f" at query line {line}, column {column}" if line else ""
        names = sorted(set(labels))
        who = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"
        findings.append(locator.finding(
            "promql-syntax", query.file, query.doc(locator), query.pointer,
            f"PromQL does not parse{at}: {reason} (filled in for {who})",
            "Fix the query; `promtool check rules` on the filled-in query shows the same error.",
            text_line=line, text_column=column))
    return findings
