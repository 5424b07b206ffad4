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
    "project-config": ("rollouts.project.yaml (or the layout it describes) is wrong: an unknown key (with the closest "
                       "known one), a value of the wrong type, no render.repository, a spec named rollouts.yml, or a "
                       "directory with neither a project file nor services/*/rollouts.yaml."),
    "schema-unknown-key": "A key the schema does not know (often a typo; the hint suggests the closest name).",
    "schema-type": "A value of the wrong type.",
    "schema-required": "A required key is missing.",
    "schema-value": "A value outside what the schema allows (enum, pattern, length, count).",
    "schema-range": "A number out of range.",
    "suppression-without-reason": "An ignore[...] comment without a reason; suppressions must say why.",
    "suppression-unknown-rule": ("An ignore[...] comment names an id no lint rule has (a typo; the hint suggests "
                                 "the closest id), or a file or schema check, which cannot be suppressed."),
}

# ids emitted by render, validate, schemas, sign, verify and commit (not lint rules, but users see them too)
OTHER = {
    "render-drift": "render --check: the flux/ tree differs from what the specs render; run `rollouts render`.",
    "render-check": "render --check could not compare the tree with the render.",
    "render-value": "A spec value cannot be rendered into a valid manifest.",
    "render-unavailable": "The renderer cannot run on this spec.",
    "render-duplicate-service": "Two specs declare the same service name.",
    "render-unknown-environment": "--env names an environment rollouts.project.yaml does not define.",
    "render-unknown-service": "--service names a service with no services/<name>/rollouts.yaml.",
    "file-added": "A rendered file is new compared to the tree on disk.",
    "file-changed": "A file differs from the one recorded (in the render or in the signed bundle).",
    "file-missing": "A file the render or the bundle expects is absent.",
    "file-unexpected": "A file in the tree that neither the render nor the bundle accounts for.",
    "manifest-unreadable": "A rendered manifest cannot be parsed as YAML.",
    "schema-missing": "The schema catalog has no schema for this kind; build one with `rollouts schemas build`.",
    "schema-violation": "A rendered object does not match its Kubernetes/CRD schema.",
    "schemas-crd-invalid": "A CRD given to `rollouts schemas build` is not a valid CustomResourceDefinition.",
    "schemas-crd-missing": "A CRD file or directory given to `rollouts schemas build` does not exist.",
    "schemas-crd-yaml": "A CRD file given to `rollouts schemas build` is not valid YAML.",
    "kubeconform-missing": "--engine kubeconform was asked for but kubeconform is not installed.",
    "kustomize-build": "`kustomize build` of a rendered kustomization failed.",
    "kustomize-unchecked": "kustomize is not installed, so the kustomizations were not built.",
    "kustomize-bootstrap-files": "A bootstrap kustomization does not list the files beside it.",
    "promql-syntax": "A PromQL query in a rendered MetricTemplate does not parse.",
    "promql-template": "A MetricTemplate query uses a template variable Flagger does not provide.",
    "promql-unchecked": "The PromQL checker is unavailable, so the queries were not checked.",
    "bundle-missing": "The tree has no signature bundle; run `rollouts sign`.",
    "bundle-invalid": "The signature bundle is not a valid Sigstore bundle.",
    "bundle-mode": "The bundle was made in a different signing mode than verify expects.",
    "signature-invalid": "The bundle's signature does not verify with the given key or identity.",
    "key-mismatch": "The bundle was signed with a different key than the one given.",
    "identity-mismatch": "The signing certificate's identity or issuer is not the expected one.",
    "untrusted-instance": "The bundle's certificate or log entry is not from a trusted Sigstore instance.",
    "statement-invalid": "The signed in-toto statement is malformed.",
    "predicate-type": "The signed statement has an unexpected predicate type.",
    "tree-mismatch": "The signed digests do not match the files in the tree.",
    "verify-commit": "The commit's tree does not verify against its bundle.",
    "backtest-query": ("rollouts backtest: a metric's query uses a template variable Flagger does not fill in, or the "
                       "Prometheus asked refused it (its message follows)."),
    "evidence-empty": "The evidence directory holds no decision records (wrong directory, or nothing decided yet).",
    "evidence-sequence": "An evidence record is missing, reordered or inserted: its sequence number does not follow "
                         "the one before.",
    "evidence-format": "An evidence file is not a DSSE envelope holding an in-toto Statement of a decision.",
    "evidence-signature": "An evidence record's signature does not verify with the given public key(s).",
    "evidence-chain": "An evidence record does not name the digest of the record before it: the chain was altered.",
}


def known_ids() -> list[str]:
    return sorted({m.ID for m in all_rules()} | set(BUILT_IN) | set(OTHER))


def summary_of(rule_id: str) -> str:
    """The one-line summary of any id the tool can emit (the id itself if unknown)."""
    for m in all_rules():
        if rule_id == m.ID:
            return str(m.SUMMARY)
    return BUILT_IN.get(rule_id) or OTHER.get(rule_id) or rule_id


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
    if rule_id in OTHER:
        source = "render, validate, sign, verify or backtest"
        return f"{rule_id} (not a lint rule; reported by {source})\n\n{OTHER[rule_id]}\n", True
    import difflib

    close = difflib.get_close_matches(rule_id, known_ids(), n=1)
    if close:
        return f"error: unknown rule id {rule_id}; did you mean {close[0]}?\n", False
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

