"""kubeconform, one process for the whole tree, its JSON report turned into Findings.

Flags: ``-strict`` (unknown fields and duplicate keys are errors), ``-output json -summary``, ``-n <cores>``, one
local ``-schema-location`` (never ``default``: offline it retries the network and then errors) and never
``-ignore-missing-schemas`` (a broken location would then pass everything): a kind without a schema is a Finding
unless the user skips it by name. kustomization.yaml files are kustomize's input, not objects: kustomize build
checks them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from typing import Any

from .. import tools
from ..errors import RolloutsError, ToolMissing
from ..findings import Finding, Severity
from .manifests import Locator, additional_keys

INSTALL_HINT = ("Install it with `go install github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0` "
                "(bash .ci/setup puts it in .venv/bin), or put it on PATH.")
KUSTOMIZATION_PATTERN = r"(^|/)(kustomization\.ya?ml|Kustomization)$"

_ENTRY = re.compile(r"( +)- at '((?:[^']|'')*)': ")


def find_kubeconform() -> str | None:
    return tools.find("kubeconform")


def command(binary: str, tree: str, schema_location: str, skip_kinds: tuple[str, ...] = (),
            workers: int | None = None) -> list[str]:
    """The kubeconform command line validate runs (the benchmark runs the same one bare)."""
    skip = ["kustomize.config.k8s.io/v1beta1/Kustomization", *skip_kinds]
    return [binary, "-strict", "-output", "json", "-summary", "-n", str(workers or os.cpu_count() or 1),
            "-schema-location", schema_location, "-skip", ",".join(skip),
            "-ignore-filename-pattern", KUSTOMIZATION_PATTERN, tree]


@dataclass
class Run:
    """A started kubeconform process; ``findings()`` waits for it."""

    process: subprocess.Popen[bytes]
    argv: list[str]


def start(tree: str, schema_location: str, skip_kinds: tuple[str, ...] = (), binary: str | None = None) -> Run:
    binary = binary or find_kubeconform()
    if binary is None:
        raise ToolMissing("kubeconform is not installed", INSTALL_HINT)
    argv = command(binary, tree, schema_location, skip_kinds)
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return Run(process, argv)


def parse_errors(msg: str) -> list[tuple[str, str]]:
    """kubeconform's ``msg`` -> [(json pointer, reason)], one per real problem.

    The message is an indented tree: ``- at '/spec': validation failed   - at '/spec/replicas': got string, ...``.
    Containers (``validation failed``) are dropped; a failed ``oneOf``/``anyOf`` is one problem that lists why each
    alternative failed.
    """
    matches = list(_ENTRY.finditer(msg))
    entries: list[tuple[int, str, str]] = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(msg)
        depth = (len(m.group(1)) - 1) // 2
        entries.append((depth, m.group(2), msg[m.end():end].strip()))
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(entries):
        depth, path, reason = entries[i]
        i += 1
        if reason == "validation failed":
            continue
        if re.match(r"(oneOf|anyOf|allOf) failed", reason):
            parts = []
            while i < len(entries) and entries[i][0] > depth:
                _, sub_path, sub_reason = entries[i]
                i += 1
                if sub_reason == "validation failed" or re.match(r"(oneOf|anyOf|allOf) failed", sub_reason):
                    continue
                parts.append(sub_reason if sub_path == path else f"{sub_path}: {sub_reason}")
            reason = reason + (": " + "; ".join(dict.fromkeys(parts)) if parts else "")
        out.append((path, reason))
    return out


def to_findings(report: dict[str, Any], locator: Locator, catalog: str) -> list[Finding]:
    findings: list[Finding] = []
    for res in report.get("resources") or []:
        status = res.get("status")
        file = str(res.get("filename") or "")
        kind, name, version = str(res.get("kind") or ""), str(res.get("name") or ""), str(res.get("version") or "")
        msg = str(res.get("msg") or "")
        if status == "statusInvalid":
            doc = locator.find(file, kind, name, version)
            errors = parse_errors(msg) or [(e.get("path", ""), e.get("msg", "")) for e in
                                           res.get("validationErrors") or []]
            for pointer, reason in errors:
                keys = additional_keys(reason)
                if keys:
                    findings += [locator.unknown_field(file, doc, pointer, key) for key in keys]
                else:
                    value = doc.scalar_at(pointer) if doc else None
                    shown = f" (got {value[:60]!r})" if value is not None and reason.startswith("value must") else ""
                    findings.append(locator.finding("schema-violation", file, doc, pointer,
                                                    f"{pointer or '/'}: {reason}{shown}", _hint(reason)))
        elif status == "statusError":
            findings.append(error_finding(locator, file, kind, name, version, msg, catalog))
    return findings


def _hint(reason: str) -> str:
    if reason.startswith("value must be one of"):
        return "Use one of the allowed values."
    if reason.startswith("missing propert"):
        return "Add the required field."
    if reason.startswith("got "):
        return "Fix the type of the value (quote numbers meant as strings; unquote numbers meant as numbers)."
    return ""


def error_finding(locator: Locator, file: str, kind: str, name: str, version: str, msg: str,
                  catalog: str) -> Finding:
    """kubeconform could not validate the object at all: no schema, or not YAML it can read."""
    if msg.startswith("could not find schema for"):
        doc = locator.find(file, kind, name, version)
        return locator.finding(
            "schema-missing", file, doc, "/kind",
            f"no schema for {kind} ({version}) in the catalog {catalog}",
            f"Add the CRD that defines it with `rollouts schemas build --crds FILE` (or --catalog DIR), or skip the "
            f"kind by name with --skip {kind}.", in_spec=False)
    line = 0
    m = re.search(r"line (\d+)", msg)
    if m:
        line = int(m.group(1))
    text = " ".join(msg.split())
    if msg.startswith("prohibited resource kind"):
        return Finding("schema-missing", Severity.ERROR, locator.relative(file), line, 1 if line else 0, text)
    return Finding("manifest-unreadable", Severity.ERROR, locator.relative(file), line, 1 if line else 0,
                   f"kubeconform cannot read this manifest: {text}",
                   "Fix the YAML: kubeconform -strict also rejects duplicate keys.")


def finish(run: Run, locator: Locator, catalog: str) -> list[Finding]:
    out, err = run.process.communicate()
    try:
        report = json.loads(out.decode("utf-8") or "{}")
    except ValueError:
        report = None
    if not isinstance(report, dict) or (run.process.returncode not in (0, 1)):
        detail = (err.decode("utf-8", "replace") or out.decode("utf-8", "replace")).strip()
        raise RolloutsError(f"kubeconform failed (exit {run.process.returncode}): {detail[:2000]}",
                            "Run the command with --verbose; check the kubeconform version is v0.7.0.")
    return to_findings(report, locator, catalog)
