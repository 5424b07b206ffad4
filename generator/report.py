"""Turns findings into text, JSON, GitHub workflow annotations or SARIF. Used by the CLI only."""

from __future__ import annotations

import json
from collections.abc import Iterable

from . import __version__
from .findings import Finding, Severity
from .lint.explain import BUILT_IN, OTHER, summary_of
from .lint.rules import RULES

FORMATS = ("text", "json", "github", "sarif")

_COLOURS = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m", Severity.INFO: "\033[36m"}
_RESET = "\033[0m"
_DIM = "\033[2m"


def format_findings(
    findings: Iterable[Finding], fmt: str, colour: bool = False, rules: dict[str, str] | None = None
) -> str:
    """Return the whole report as one string (empty for text/github when there is nothing to say)."""
    items = sorted(findings, key=Finding.sort_key)
    if fmt == "json":
        return json.dumps([_as_dict(f) for f in items], indent=2, ensure_ascii=False) + "\n"
    if fmt == "github":
        return "".join(_github(f) + "\n" for f in items)
    if fmt == "sarif":
        return json.dumps(_sarif(items, rules or {}), indent=2, ensure_ascii=False) + "\n"
    return "".join(_text(f, colour) + "\n" for f in items)


def summary(findings: list[Finding]) -> str:
    errors = sum(f.severity is Severity.ERROR for f in findings)
    warnings = sum(f.severity is Severity.WARNING for f in findings)
    return f"{errors} error(s), {warnings} warning(s)"


def _as_dict(f: Finding) -> dict[str, object]:
    return {
        "rule": f.rule,
        "severity": f.severity.value,
        "file": f.file,
        "line": f.line,
        "column": f.column,
        "message": f.message,
        "hint": f.hint,
        "path": f.path,
        "resource": f.resource,
    }


def _text(f: Finding, colour: bool) -> str:
    where = f.resource and f" [{f.resource}]"
    sev = f.severity.value
    if colour:
        sev = f"{_COLOURS[f.severity]}{sev}{_RESET}"
    line = f"{f.location}: {sev}: {f.message}{where} ({f.rule})"
    if f.hint:
        hint = f"  hint: {f.hint}"
        line += "\n" + (f"{_DIM}{hint}{_RESET}" if colour else hint)
    return line


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def _github(f: Finding) -> str:
    level = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}[f.severity]
    props = [f"file={_escape_property(f.file)}"]
    if f.line:
        props += [f"line={f.line}", f"col={f.column}"]
    props.append(f"title={_escape_property(f.rule)}")
    message = f.message + (f"\n{f.hint}" if f.hint else "")
    return f"::{level} {','.join(props)}::{_escape_data(message)}"


def summaries(rule_ids: Iterable[str]) -> dict[str, str]:
    """The one-line summary of each id (what ``lint --explain`` says first), importing the module of a lint rule
    only when its id is asked for (``lint/rules/<id with underscores>.py``), not all of them."""
    import importlib

    out = {}
    for rule_id in rule_ids:
        name = rule_id.replace("-", "_")
        if name in RULES:
            module = importlib.import_module(f".lint.rules.{name}", __package__)
            out[rule_id] = str(module.SUMMARY) if rule_id == module.ID else summary_of(rule_id)
        else:
            out[rule_id] = BUILT_IN.get(rule_id) or OTHER.get(rule_id) or rule_id
    return out


def _sarif(findings: list[Finding], rules: dict[str, str]) -> dict[str, object]:
    rule_ids = sorted({f.rule for f in findings} | set(rules))
    summary_of = summaries(r for r in rule_ids if not rules.get(r)).__getitem__
    results = []
    for f in findings:
        region = {"startLine": f.line, "startColumn": f.column} if f.line else {}
        location: dict[str, object] = {"artifactLocation": {"uri": f.file}}
        if region:
            location["region"] = region
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": rule_ids.index(f.rule),
                "level": {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}[f.severity],
                "message": {"text": f.message},
                "locations": [{"physicalLocation": location}],
                "partialFingerprints": {"rollouts/v1": f"{f.rule}:{f.file}:{f.path or f.line}"},
            }
        )
        if f.hint:  # the hint apart from the message, so neither runs into the other
            results[-1]["properties"] = {"hint": f.hint}
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "rollouts",
                        "version": __version__,
                        "rules": [{"id": r, "shortDescription": {"text": rules.get(r) or summary_of(r)}}
                                  for r in rule_ids],
                    }
                },
                "results": results,
            }
        ],
    }
