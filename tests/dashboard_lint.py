"""Our own port of grafana/dashboard-linter's Prometheus rules, for the tests (the Go module proxy refuses
github.com/grafana/dashboard-linter here, so the real linter cannot be installed).

Upstream: https://github.com/grafana/dashboard-linter at commit 4d0844b40d49cbfd442916fc6c0c3c6fc81084e3
(2026-06-18, "feat: basic support Grafana v2 dashboard schema (#261)"), read, not copied. Each rule below keeps the
upstream name and checks what its file checks:

- template-datasource-rule (lint/rule_template_datasource.go): a datasource variable exists, named
  ``<type>_datasource`` (or ``datasource`` when it is the only one), labelled "<Type> data source" (or
  "Data source"; a warning otherwise).
- template-job-rule, template-instance-rule (lint/rule_template_job.go, lint/rule_template_instance.go): a
  ``job``/``instance`` query variable on ``$datasource``, labelled "Job"/"Instance", multi, allValue ``.+``.
- template-label-promql-rule (lint/rule_template_label_promql.go): a query variable is label_names/label_values/
  metrics/query_result of PromQL that parses.
- template-on-time-change-reload-rule (lint/rule_template_on_time_change_reload.go): query variables refresh 2.
- panel-datasource-rule (lint/rule_panel_datasource.go): singlestat/graph/table/timeseries panels use a datasource
  variable (``$name`` or ``${name}``).
- panel-title-description-rule (lint/rule_panel_title_description.go), panel-units-rule (lint/rule_panel_units.go,
  the same unit list; skipped with value mappings, or for a stat panel reducing non-numeric fields),
  panel-no-targets-rule (lint/rule_panel_no_targets.go).
- target-promql-rule (lint/rule_target_promql.go): every target parses once Grafana's variables are expanded
  (lint/variables.go); parsed by the real promtool.
- target-rate-interval-rule (lint/rule_target_rate_interval.go): a range under rate/irate is ``$__rate_interval``.
- target-job-rule, target-instance-rule (lint/rule_target_job_instance.go): every selector has
  ``job=~"$job"``/``instance=~"$instance"``.
- target-counter-agg-rule (lint/rule_target_counter_agg.go): a selector whose printed form ends in ``_total`` sits
  directly in rate/irate/increase over a range (upstream tests the printed selector, so a selector with label
  matchers is never flagged: kept as upstream has it).
- uneditable-dashboard (lint/rule_uneditable.go): ``editable`` is false.

The LogQL rules (lint/rule_target_logql*.go) do not apply: our dashboards query Prometheus only. The rules that
read PromQL's tree (rate interval, counter aggregation, job/instance matchers) walk it as Prometheus's
parser.Walk does (a call's arguments are its children); the tree comes from the small parser below, which must
accept every expression promtool accepts (it raises otherwise, so the checker cannot pass silently).

Exclusions and warnings follow the linter's ``.lint`` file (lint/configuration.go): ``{"exclusions": {rule:
{"reason": ..., "entries": [{"dashboard": title, "panel": title, "targetIdx": "0"}]}}}``; a rule with no entries
is excluded everywhere; a finding under ``warnings`` becomes a warning.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UPSTREAM = "https://github.com/grafana/dashboard-linter"
COMMIT = "4d0844b40d49cbfd442916fc6c0c3c6fc81084e3"

RULES = ("template-datasource-rule", "template-job-rule", "template-instance-rule", "template-label-promql-rule",
         "template-on-time-change-reload-rule", "panel-datasource-rule", "panel-title-description-rule",
         "panel-units-rule", "panel-no-targets-rule", "target-promql-rule", "target-rate-interval-rule",
         "target-job-rule", "target-instance-rule", "target-counter-agg-rule", "uneditable-dashboard")

# lint/rule_panel_units.go: the units Grafana knows (packages/grafana-data/src/valueFormats/categories.ts)
_UNITS = (
    "none string short percent percentunit humidity dB hex0x hex sci locale pixel accMS2 accFS2 accG degree radian "
    "grad arcmin arcsec areaM2 areaF2 areaMI2 flops mflops gflops tflops pflops eflops zflops yflops ppm conppb "
    "conngm3 conngNm3 conμgm3 conμgNm3 conmgm3 conmgNm3 congm3 congNm3 conmgdL conmmolL currencyUSD currencyGBP "
    "currencyEUR currencyJPY currencyRUB currencyUAH currencyBRL currencyDKK currencyISK currencyNOK currencySEK "
    "currencyCZK currencyCHF currencyPLN currencyBTC currencymBTC currencyμBTC currencyZAR currencyINR currencyKRW "
    "currencyIDR currencyPHP currencyVND bytes decbytes bits decbits kbytes deckbytes mbytes decmbytes gbytes "
    "decgbytes tbytes dectbytes pbytes decpbytes pps binBps Bps binbps bps KiBs Kibits KBs Kbits MiBs Mibits MBs "
    "Mbits GiBs Gibits GBs Gbits TiBs Tibits TBs Tbits PiBs Pibits PBs Pbits dateTimeAsIso "
    "dateTimeAsIsoNoDateIfToday dateTimeAsUS dateTimeAsUSNoDateIfToday dateTimeAsLocal dateTimeAsLocalNoDateIfToday "
    "dateTimeAsSystem dateTimeFromNow watt kwatt megwatt gwatt mwatt Wm2 voltamp kvoltamp voltampreact "
    "kvoltampreact watth watthperkg kwatth kwattm amph kamph mamph joule ev amp kamp mamp volt kvolt mvolt dBm ohm "
    "kohm Mohm farad µfarad nfarad pfarad ffarad henry mhenry µhenry lumens flowgpm flowcms flowcfs flowcfm litreh "
    "flowlpm flowmlpm lux forceNm forcekNm forceN forcekN Hs KHs MHs GHs THs PHs EHs massmg massg masslb masskg "
    "masst lengthmm lengthin lengthft lengthm lengthkm lengthmi pressurembar pressurebar pressurekbar pressurepa "
    "pressurehpa pressurekpa pressurehg pressurepsi radbq radci radgy radrad radsv radmsv radusv radrem radexpckg "
    "radr radsvh radmsvh radusvh rotrpm rothz rotrads rotdegs celsius fahrenheit kelvin hertz ns µs ms s m h d "
    "dtdurationms dtdurations dthms dtdhms timeticks clockms clocks cps ops reqps rps wps iops cpm opm rpm wpm mps "
    "mpm velocityms velocitykmh velocitymph velocityknot mlitre litre m3 Nm3 dm3 gallons bool bool_yes_no "
    "bool_on_off")
VALID_UNITS = frozenset(_UNITS.split())

QUERY_PANELS = ("singlestat", "gauge", "table", "stat", "state-timeline", "timeseries")  # panelHasQueries
TARGET_PANELS = ("stat", "singlestat", "graph", "table", "timeseries", "gauge")  # title, units, no-targets
DATASOURCE_PANELS = ("singlestat", "graph", "table", "timeseries")

# lint/variables.go: the sample values Grafana's global variables expand to before parsing
GLOBALS = {"__rate_interval": "8869990787ms", "__interval": "4867856611ms", "__interval_ms": "7781188786",
           "__range_ms": "6737667980", "__range_s": "9397795485", "__range": "6069770749ms",
           "__dashboard": "AwREbnft", "__from": "1594671549254", "__to": "1594671549254", "__name": "name",
           "__org": "42", "__org.name": "orgname", "__user.id": "42", "__user.login": "user",
           "__user.email": "user@test.com", "timeFilter": "time > now() - 7d", "__timeFilter": "time > now() - 7d",
           "__auto": "12345ms"}
RATE_INTERVAL_MS = 8869990787
VARIABLE = re.compile(r"\$(\w+)|\$\{([^}]+)\}|\[\[([^\[\]]+)\]\]")


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # error | warning
    message: str
    dashboard: str
    panel: str | None = None
    target: int | None = None


# ---- Grafana variables (lint/variables.go) -------------------------------------------------------------------------

def _first(value: Any) -> str:
    return str(value[0]) if isinstance(value, list) and value else str(value or "")


def _sample(text: str, variables: Sequence[Mapping[str, Any]]) -> str:
    name, *fmt = text.split(":")
    if name in GLOBALS:
        return GLOBALS[name]
    if name.startswith("__auto_interval"):
        return "10s"
    for v in variables:
        if v.get("name") == name:
            rest = [o for o in variables if o.get("name") != name]
            current = _first((v.get("current") or {}).get("value"))
            if current:
                return expand(current, rest)
            if v.get("options"):
                return expand(_first(v["options"][0].get("value")), rest)
    fmt_name = fmt[-1] if fmt else ""
    joined = {"csv": ",", "pipe": "|", "regex": "|", "raw": ",", "text": " + "}
    return joined[fmt_name].join([name] * 3) if fmt_name in joined else name


def expand(expr: str, variables: Sequence[Mapping[str, Any]]) -> str:
    """Grafana's variables replaced by sample values, outside double-quoted strings only (as upstream does)."""
    parts = expr.split('"')
    for i in range(0, len(parts), 2):
        parts[i] = VARIABLE.sub(lambda m: _sample(next(g for g in m.groups() if g is not None), variables), parts[i])
    return '"'.join(parts)


# ---- PromQL's tree, for the rules that walk it ---------------------------------------------------------------------

@dataclass
class Node:
    kind: str  # call | aggregate | binary | unary | paren | matrix | subquery | vector | number | string
    name: str = ""  # function, aggregation or metric name
    children: list[Node] = field(default_factory=list)
    matchers: list[tuple[str, str, str]] = field(default_factory=list)  # vector: (label, op, value)
    range_ms: int = 0  # matrix
    suffix: str = ""  # vector: offset / @ as written

    def text(self) -> str:
        """A vector selector as Prometheus prints it (the name, then any other matchers, then offset/@)."""
        others = [m for m in self.matchers if not (m[0] == "__name__" and m[2] == self.name and self.name)]
        inner = ", ".join(f'{k}{op}"{v}"' for k, op, v in others)
        return self.name + (f"{{{inner}}}" if inner or not self.name else "") + self.suffix


def walk(node: Node, parents: tuple[Node, ...] = ()) -> Iterator[tuple[Node, tuple[Node, ...]]]:
    yield node, parents
    for child in node.children:
        yield from walk(child, (*parents, node))


TOKEN = re.compile(r"""\s*(?:(?P<dur>(?:\d+(?:ms|[smhdwy]))+(?![\w.]))|(?P<num>0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)"""
                   r"""(?:[eE][+-]?\d+)?|[Ii]nf|NaN)(?![\w:])|(?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)"""
                   r"""|(?P<id>:?[A-Za-z_][\w:]*)|(?P<op>=~|!~|==|!=|<=|>=|[-+*/%^<>=(){}\[\],:@]))""")
AGGREGATIONS = {"sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk", "bottomk", "count_values",
                "quantile", "limitk", "limit_ratio"}
LEVELS = ({"or"}, {"and", "unless"}, {"==", "!=", "<=", "<", ">=", ">"}, {"+", "-"}, {"*", "/", "%", "atan2"})
UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
            "y": 31_536_000_000}


def duration_ms(text: str) -> int:
    return sum(int(n) * UNITS_MS[u] for n, u in re.findall(r"(\d+)(ms|[smhdwy])", text))


class _Parser:
    def __init__(self, expr: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos, expr = 0, expr.rstrip()
        while pos < len(expr):
            m = TOKEN.match(expr, pos)
            if m is None or m.end() == pos:
                raise ValueError(f"cannot read {expr[pos:]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.at = 0

    def peek(self, offset: int = 0) -> str:
        i = self.at + offset
        return self.tokens[i][1] if i < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        value = self.peek()
        if (expected is not None and value != expected) or self.at >= len(self.tokens):
            raise ValueError(f"expected {expected!r}, found {value!r}")
        self.at += 1
        return value

    def labels(self) -> None:
        self.take("(")
        while self.peek() != ")":
            self.take()
        self.take(")")

    def parse(self) -> Node:
        node = self.binary(0)
        if self.at != len(self.tokens):
            raise ValueError(f"unexpected {self.peek()!r}")
        return node

    def binary(self, level: int) -> Node:
        if level == len(LEVELS):
            return self.power()
        node = self.binary(level + 1)
        while self.peek() in LEVELS[level]:
            self.take()
            self.modifiers()
            node = Node("binary", children=[node, self.binary(level + 1)])
        return node

    def modifiers(self) -> None:
        while self.peek() in ("bool", "on", "ignoring", "group_left", "group_right"):
            word = self.take()
            if word != "bool" and self.peek() == "(":
                self.labels()

    def power(self) -> Node:
        node = self.unary()
        if self.peek() == "^":
            self.take()
            self.modifiers()
            node = Node("binary", children=[node, self.power()])
        return node

    def unary(self) -> Node:
        if self.peek() in ("-", "+"):
            self.take()
            return Node("unary", children=[self.unary()])
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            if self.peek() == "[":
                self.take()
                window = self.take()
                if self.peek() == ":":
                    self.take()
                    if self.peek() != "]":
                        self.take()
                    self.take("]")
                    node = Node("subquery", children=[node])
                else:
                    self.take("]")
                    node = Node("matrix", children=[node], range_ms=duration_ms(window))
            elif self.peek() in ("offset", "@"):
                word = self.take()
                sign = self.take() if self.peek() in ("-", "+") else ""
                value = self.take()
                if value in ("start", "end"):
                    value += self.take("(") + self.take(")")
                target = node.children[0] if node.kind == "matrix" else node
                target.suffix += f" {word} {sign}{value}"
            else:
                return node

    def primary(self) -> Node:
        kind, value = self.tokens[self.at] if self.at < len(self.tokens) else ("", "")
        if value == "(":
            self.take()
            inner = self.binary(0)
            self.take(")")
            return Node("paren", children=[inner])
        if kind in ("num", "dur"):
            self.take()
            return Node("number")
        if kind == "str":
            self.take()
            return Node("string")
        if value == "{":
            return self.selector("")
        if kind != "id":
            raise ValueError(f"unexpected {value!r}")
        self.take()
        if value in AGGREGATIONS and self.peek() in ("(", "by", "without"):
            if self.peek() in ("by", "without"):
                self.take()
                self.labels()
            args = self.arguments()
            if self.peek() in ("by", "without"):
                self.take()
                self.labels()
            return Node("aggregate", value, args[::-1])  # Prometheus's Children: the expression, then the param
        if self.peek() == "(":
            return Node("call", value, self.arguments())
        return self.selector(value)

    def arguments(self) -> list[Node]:
        self.take("(")
        args: list[Node] = []
        while self.peek() != ")":
            args.append(self.binary(0))
            if self.peek() == ",":
                self.take()
        self.take(")")
        return args

    def selector(self, name: str) -> Node:
        matchers = [("__name__", "=", name)] if name else []
        if self.peek() == "{":
            self.take()
            while self.peek() != "}":
                label, op, text = self.take(), self.take(), self.take()
                matchers.append((label, op, text[1:-1]))
                if self.peek() == ",":
                    self.take()
            self.take("}")
        return Node("vector", name, matchers=matchers)


def parse(expr: str) -> Node:
    """PromQL's tree, as far as the rules need it (raises ValueError on what it cannot read)."""
    return _Parser(expr).parse()


def promtool_errors(promtool: str, exprs: Sequence[str]) -> dict[str, str]:
    """The expressions promtool cannot parse, with its message (one ``promtool check rules`` for all of them)."""
    unique = sorted(set(exprs))
    if not unique:
        return {}
    groups = [{"name": f"e{i}", "rules": [{"record": f"e{i}", "expr": e}]} for i, e in enumerate(unique)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.json"
        path.write_text(json.dumps({"groups": groups}))
        done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True,
                              timeout=120, check=False)
    errors = {unique[int(m.group(1))]: m.group(2)
              for m in re.finditer(r'group "e(\d+)", rule 1, "e\d+": (.*)', done.stdout + done.stderr)}
    if done.returncode != 0 and not errors:
        raise RuntimeError(f"promtool check rules failed: {done.stdout}{done.stderr}")
    return errors


# ---- the rules -----------------------------------------------------------------------------------------------------

def _datasource_uid(raw: Any) -> str:
    return str(raw.get("uid", "")) if isinstance(raw, dict) else str(raw or "")


def _query_text(template: Mapping[str, Any]) -> str:
    raw = template.get("query")
    return str(raw.get("query", "")) if isinstance(raw, dict) else str(raw or "")


def panels(board: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every panel, nested ones too (Dashboard.GetPanels)."""
    def flat(p: dict[str, Any]) -> list[dict[str, Any]]:
        return [p] + [q for child in p.get("panels") or [] for q in flat(child)]
    rows = [q for row in board.get("rows") or [] for p in row.get("panels") or [] for q in flat(p)]
    return rows + [q for p in board.get("panels") or [] for q in flat(p)]


class _Board:
    def __init__(self, board: Mapping[str, Any], promtool: str) -> None:
        self.board = board
        self.title = str(board.get("title", ""))
        self.variables: list[Mapping[str, Any]] = list((board.get("templating") or {}).get("list") or [])
        self.datasources = [v for v in self.variables if str(v.get("type", "")).lower() == "datasource"]
        first = next((v for v in self.variables if v.get("type") == "datasource"), None)
        self.prometheus = first is not None and _query_text(first) == "prometheus"
        self.panels = panels(board)
        exprs = [expand(str(t.get("expr") or ""), self.variables) for p in self.panels for t in p.get("targets") or []]
        exprs += [self._label_query(v)[1] for v in self.variables if v.get("type") == "query"]
        self.errors = promtool_errors(promtool, [e for e in exprs if e is not None])
        self.findings: list[Finding] = []

    def _label_query(self, template: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(function, PromQL argument) of a query variable; label_values' argument without its label name."""
        m = re.search(r"([a-z_]+)\((.+)\)", _query_text(template))
        if m is None:
            return None, None
        arg = m.group(2)
        if m.group(1) == "label_values" and "," in arg:
            arg = arg.rsplit(",", 1)[0]
        return m.group(1), expand(arg, self.variables)

    def add(self, rule: str, message: str, panel: Mapping[str, Any] | None = None, target: int | None = None,
            severity: str = "error") -> None:
        title = None if panel is None else str(panel.get("title") or "")
        self.findings.append(Finding(rule, severity, message, self.title, title, target))

    def dashboard_rules(self) -> None:
        if not self.datasources:
            self.add("template-datasource-rule", "does not have a templated data source")
        for t in self.datasources:
            kind = _query_text(t)
            names, labels = {f"{kind.lower()}_datasource"}, {f"{kind.title()} data source"}
            if len(self.datasources) == 1:
                names.add("datasource")
                labels.add("Data source")
            if t.get("name") not in names:
                self.add("template-datasource-rule", f"templated data source variable named '{t.get('name')}', "
                         f"should be named one of {sorted(names)}")
            if t.get("label") not in labels:
                self.add("template-datasource-rule", f"templated data source variable labeled '{t.get('label')}', "
                         f"should be labeled one of {sorted(labels)}", severity="warning")
        if self.prometheus:
            for name in ("job", "instance"):
                self._template(name)
            for t in self.variables:
                if t.get("type") != "query":
                    continue
                function, arg = self._label_query(t)
                if function is None or arg is None:
                    problem = f"invalid 'query': {_query_text(t)}"
                elif function not in ("label_names", "label_values", "metrics", "query_result"):
                    problem = f"invalid 'function': {function}"
                else:
                    problem = self.errors.get(arg, "")
                if problem:
                    self.add("template-label-promql-rule", f"template '{t.get('name')}' invalid templated label "
                             f"'{_query_text(t)}': {problem}")
        for t in self.variables:
            if t.get("type") == "query" and t.get("refresh") != 2:
                self.add("template-on-time-change-reload-rule", f"variable '{t.get('name')}' should refresh "
                         f"'On Time Range Change (value 2)', is currently '{t.get('refresh', 0)}'")
        if self.board.get("editable"):
            self.add("uneditable-dashboard", "is editable, it should be set to 'editable: false'")

    def _template(self, name: str) -> None:
        rule = f"template-{name}-rule"
        t = next((v for v in self.variables if v.get("name") == name), None)
        if t is None:
            self.add(rule, f"is missing the {name} template")
            return
        uid = _datasource_uid(t.get("datasource"))
        if uid not in ("$datasource", "${datasource}", "$prometheus_datasource", "${prometheus_datasource}"):
            self.add(rule, f"{name} template should use datasource '$datasource', is currently '{uid}'")
        if t.get("type") != "query":
            self.add(rule, f"{name} template should be a Prometheus query, is currently '{t.get('type')}'")
        if t.get("label") != name.title():
            self.add(rule, f"{name} template should be labeled '{name.title()}'", severity="warning")
        if not t.get("multi"):
            self.add(rule, f"{name} template should be a multi select")
        if t.get("allValue") != ".+":
            self.add(rule, f"{name} template allValue should be '.+', is currently '{t.get('allValue', '')}'")

    def panel_rules(self, p: Mapping[str, Any]) -> None:
        kind = p.get("type")
        if kind in DATASOURCE_PANELS:
            uids = {f"${v.get('name')}" for v in self.datasources} | {f"${{{v.get('name')}}}" for v in self.datasources}
            uid = _datasource_uid(p.get("datasource"))
            if uid not in uids:
                self.add("panel-datasource-rule", f"does not use a templated datasource, uses '{uid}'", p)
        if kind not in TARGET_PANELS:
            return
        if not p.get("title") or not p.get("description"):
            self.add("panel-title-description-rule", "has missing title or description", p)
        if p.get("targets") is None:
            self.add("panel-no-targets-rule", "has no targets", p)
        config = p.get("fieldConfig") or {}
        defaults = config.get("defaults") or {}
        props = [prop for o in config.get("overrides") or [] for prop in o.get("properties") or []]
        reduces_text = kind == "stat" and ((p.get("options") or {}).get("reduceOptions") or {}).get("fields", "")
        mapped = defaults.get("mappings") is not None or any(q.get("id") == "mappings" and q.get("value") is not None
                                                              for q in props)
        units = [q.get("value") for q in props if q.get("id") == "unit"]
        unit = str(units[-1] if units and units[-1] else defaults.get("unit") or "")
        if not reduces_text and not mapped and unit not in VALID_UNITS:
            self.add("panel-units-rule", f"has no or invalid units defined: '{unit}'", p)

    def target_rules(self, p: Mapping[str, Any], idx: int, target: Mapping[str, Any]) -> None:
        raw = str(target.get("expr") or "")
        expr = expand(raw, self.variables)
        queries = self.prometheus and p.get("type") in QUERY_PANELS
        if queries:
            if not raw and int(target.get("panelId") or 0) > 0:
                if any(q.get("id") == target["panelId"] for q in self.panels):
                    return
                self.add("target-promql-rule", "Invalid panel reference in target", p, idx)
            if expr in self.errors:
                self.add("target-promql-rule", f"invalid PromQL query '{raw}': {self.errors[expr]}", p, idx)
        if expr in self.errors:
            return  # invalid PromQL is target-promql-rule's
        tree = parse(expr)  # promtool accepted it: a failure here is this checker's own bug
        if queries:
            problem = self._rate_interval(tree)
            if problem:
                self.add("target-rate-interval-rule", f"invalid PromQL query '{raw}': {problem}", p, idx)
        if self.prometheus:
            for name in ("job", "instance"):
                for node, _ in walk(tree):
                    if node.kind == "vector" and (name, "=~", f"${name}") not in node.matchers:
                        self.add(f"target-{name}-rule", f"invalid PromQL query '{raw}': {name} selector is not "
                                 f'{name}=~"${name}" in {node.text()}', p, idx)
        for node, parents in walk(tree):
            if node.kind == "vector" and node.text().endswith("_total") and not (
                    len(parents) >= 2 and parents[-1].kind == "matrix" and parents[-2].kind == "call"
                    and parents[-2].name in ("rate", "irate", "increase")):
                self.add("target-counter-agg-rule", f"counter metric '{node.text()}' is not aggregated with rate, "
                         "irate, or increase", p, idx)
                break

    @staticmethod
    def _rate_interval(tree: Node) -> str:
        for node, parents in walk(tree):
            if node.kind != "matrix" or node.range_ms == RATE_INTERVAL_MS or not parents:
                continue
            if parents[-1].kind != "call":
                return "$__rate_interval used in non-rate function"
            if parents[-1].name in ("rate", "irate"):
                return "should use $__rate_interval"
        return ""


def _matches(entry: Mapping[str, Any], f: Finding) -> bool:
    return (not entry.get("dashboard") or entry["dashboard"] == f.dashboard) and \
        (not entry.get("panel") or f.panel is None or entry["panel"] == f.panel) and \
        (entry.get("targetIdx") in (None, "") or f.target is None or int(entry["targetIdx"]) == f.target)


def _listed(section: Mapping[str, Any], f: Finding) -> bool:
    if f.rule not in section:
        return False
    entries = (section[f.rule] or {}).get("entries") or []
    return not entries or any(_matches(e, f) for e in entries)


def lint(board: Mapping[str, Any], promtool: str, config: Mapping[str, Any] | None = None) -> list[Finding]:
    """Every finding of the rules above on one dashboard's JSON model, less what ``config`` (a ``.lint`` file's
    content) excludes; what it lists under ``warnings`` comes back as a warning."""
    b = _Board(board, promtool)
    b.dashboard_rules()
    for p in b.panels:
        b.panel_rules(p)
        for idx, target in enumerate(p.get("targets") or []):
            b.target_rules(p, idx, target)
    config = config or {}
    kept = [f for f in b.findings if not _listed(config.get("exclusions") or {}, f)]
    return [Finding(f.rule, "warning", f.message, f.dashboard, f.panel, f.target)
            if _listed(config.get("warnings") or {}, f) else f for f in kept]


__all__ = ["COMMIT", "RULES", "UPSTREAM", "Finding", "expand", "lint", "parse", "promtool_errors"]
