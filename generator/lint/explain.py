"""Text for ``rollouts lint --explain RULE`` and ``--list-rules``."""

from __future__ import annotations

from .rules import all_rules

BUILT_IN = {
    "yaml-syntax": "The file is not valid YAML.",
    "yaml-tab": "A tab is used for indentation; YAML allows spaces only.",
    "yaml-duplicate-key": "A key appears twice in one mapping; YAML would silently keep one of them.",
    "yaml-multiple-documents": "The file holds more than one YAML document.",
    "yaml-alias-bomb": "Anchors and aliases expand to an unreasonable size (a 'billion laughs' file).",
    "yaml-nesting": "The YAML is nested too deeply to process (more than 64 levels of [ and {).",
    "file-too-large": "The file is larger than 128 KiB.",
    "file-encoding": "The file is not UTF-8.",
    "file-binary": "The file is binary, not YAML.",
    "file-empty": "The file is empty.",
    "file-unreadable": "The file cannot be read.",
    "spec-not-mapping": "The top level of the file is not a mapping.",
    "path-outside-repository": "A path (often a symlink under services/) resolves outside the repository.",
    "project-config": "rollouts.project.yaml is malformed.",
    "schema-unknown-key": "A key the schema does not know (often a typo; the hint suggests the closest name).",
    "schema-type": "A value of the wrong type.",
    "schema-required": "A required key is missing.",
    "schema-value": "A value outside what the schema allows (enum, pattern, length, count).",
    "schema-range": "A number out of range.",
    "suppression-without-reason": "An ignore[...] comment without a reason; suppressions must say why.",
}


def list_all() -> str:
    rows = [(m.ID, m.SEVERITY.value, m.SUMMARY) for m in all_rules()]
    rows += [(rule, "error", text) for rule, text in BUILT_IN.items()]
    width = max(len(r[0]) for r in rows)
    return "".join(f"{rid:<{width}}  {sev:<7}  {summary}\n" for rid, sev, summary in sorted(rows))


def explain_rule(rule_id: str) -> tuple[str, bool]:
    for m in all_rules():
        if rule_id == m.ID:
            return (f"{m.ID} ({m.SEVERITY.value})\n\n{m.SUMMARY}\n\nWhy:\n{m.REASON.rstrip()}\n\n"
                    f"Suppress one occurrence with a reason:\n  # rollouts: ignore[{m.ID}] <why this is fine here>\n",
                    True)
    if rule_id in BUILT_IN:
        return f"{rule_id} (error)\n\n{BUILT_IN[rule_id]}\n", True
    return f"error: no rule named {rule_id!r}; see rollouts lint --list-rules\n", False


def rules_markdown() -> str:
    """docs/rules.md: every rule with its severity, summary and reason (``python -m generator.lint.explain``)."""
    out = [
        "# Lint rules",
        "",
        "Generated from the rule modules in `generator/lint/rules/` by `python -m generator.lint.explain`;",
        "a test keeps this file in step. `rollouts lint --explain RULE` prints the same text.",
        "",
        "Severity: **error** where Flagger, Linkerd or Flux will fail, stall or do something else than the spec says;",
        "**warning** where the release is risky. `--strict` makes warnings fail too (exit 2). A finding of a semantic",
        "rule can be suppressed on its line, or from the line above, with a reason:",
        "`# rollouts: ignore[rule-id] why this is fine here` (a suppression without a reason is itself an error).",
        "",
        "| rule | severity | summary |",
        "| --- | --- | --- |",
    ]
    modules = sorted(all_rules(), key=lambda m: m.ID)
    out += [f"| [`{m.ID}`](#{m.ID}) | {m.SEVERITY.value} | {m.SUMMARY.replace('|', '/')} |" for m in modules]
    for m in modules:
        out += ["", f"## {m.ID}", "", f"*{m.SEVERITY.value}*: {m.SUMMARY}", "", m.REASON.rstrip()]
    out += ["", "## Built-in checks", "",
            "Problems of the file itself and of the schema; these cannot be suppressed.", "",
            "| rule | summary |", "| --- | --- |"]
    out += [f"| `{rule}` | {text} |" for rule, text in sorted(BUILT_IN.items())]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    import os

    docs = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs")
    with open(os.path.join(docs, "rules.md"), "w", encoding="utf-8") as fh:
        fh.write(rules_markdown())
