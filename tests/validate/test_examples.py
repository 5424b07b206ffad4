"""Acceptance: the repository's examples, rendered by rollouts.render, validate clean with kubeconform -strict
against the shared flux-schema catalog plus the Linkerd policy CRDs converted by `schemas build`; a PromQL error in
a custom metric is reported at its line of rollouts.yaml."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from rollouts.catalog.build import build
from rollouts.project import Project
from rollouts.validate import validate

from tests.validate.rendered import render_examples

# cert-manager and trust-manager kinds (the Linkerd identity issuer): neither the shared catalog nor shared CRDs
# have their schemas, so they are skipped by name, as a user would
SKIP = ("cert-manager.io/v1/Issuer", "cert-manager.io/v1/ClusterIssuer", "cert-manager.io/v1/Certificate",
        "trust.cert-manager.io/v1alpha1/Bundle")


def test_rendered_examples_validate_clean(tmp_path: Path, catalog: Path, tool: Callable[[str], str]) -> None:
    for name in ("kubeconform", "kustomize", "promtool"):
        tool(name)
    project, result = render_examples(tmp_path)
    findings = validate(project, origins=result.origins, schema_dir=str(catalog), skip_kinds=SKIP,
                        engine="kubeconform")
    # clean; flux/bootstrap/flux-system was built with stand-ins for the two files flux bootstrap writes, and says so
    assert [(f.rule, f.severity, f.file) for f in findings] == [
        ("kustomize-bootstrap-files", "info", "flux/bootstrap/flux-system/kustomization.yaml")]
    # the skipped kinds are there and would otherwise be errors, one per object, against this catalog (the
    # schemas the package ships have them: rollouts.project.yaml skips nothing)
    bare = Project(project.root, project.environments)
    unskipped = validate(bare, schema_dir=str(catalog), engine="kubeconform", promql=False, kustomize=False)
    assert unskipped and {f.rule for f in unskipped} == {"schema-missing"}
    assert {f.resource.split()[0] for f in unskipped} == {k.rsplit("/", 1)[1] for k in SKIP}


def test_a_kind_missing_from_the_catalog_is_reported_on_the_rendered_file_not_on_the_spec(
        tmp_path: Path, catalog: Path, tool: Callable[[str], str]) -> None:
    """The catalog lacks a schema: nothing in rollouts.yaml is wrong, so no spec line is blamed."""
    tool("kubeconform")
    project, result = render_examples(tmp_path)
    core = tmp_path / "core-only"
    build(str(core), "1.34")  # Kubernetes core kinds only: the Canary, MetricTemplate, ... have no schema
    findings = validate(project, origins=result.origins, schema_dir=str(core), engine="kubeconform", promql=False,
                        kustomize=False)
    missing = [f for f in findings if f.rule == "schema-missing"]
    assert "Canary" in {f.resource.split()[0] for f in missing}
    assert all(f.file.startswith("flux/") and f.line > 0 for f in missing), missing


END = '[{{ interval }}]))\n      max:'


# (text to replace, replacement, the line of the query block it breaks, promtool's reason, where on that line it
# points: the text there, or "" for the end of the line)
@pytest.mark.parametrize(("old", "new", "line", "reason", "at"), [
    pytest.param(END, END.replace("]))", "])"), 3, "unclosed left parenthesis", "", id="unclosed-at-the-end"),
    pytest.param("        /\n", "        / foo bar\n", 2, 'unexpected identifier "bar"', "bar", id="middle-line"),
])
def test_promql_error_in_a_custom_metric_is_reported_at_its_line(old: str, new: str, line: int, reason: str,
                                                                  at: str, tmp_path: Path, catalog: Path,
                                                                  tool: Callable[[str], str]) -> None:
    tool("promtool")
    project, result = render_examples(tmp_path, {"checkout": (old, new)})
    findings = validate(project, origins=result.origins, schema_dir=str(catalog), skip_kinds=SKIP,
                        kustomize=False, engine="python")
    # once for both environments, at the broken line and column of the literal block in rollouts.yaml (columns
    # of the query as written: the filled-in namespace differs between the environments)
    assert [(f.rule, f.file) for f in findings] == [("promql-syntax", "services/checkout/rollouts.yaml")]
    spec = (tmp_path / "services" / "checkout" / "rollouts.yaml").read_text().splitlines()
    header = spec.index("      query: |") + 1
    text = spec[header + line - 1]
    column = text.index(at) + 1 if at else len(text) + 1
    assert [(f.line, f.column) for f in findings] == [(header + line, column)]
    assert f"at query line {line}, column {column - 8}: " in findings[0].message
    assert "(filled in for Canary shop-staging/checkout and 1 more)" in findings[0].message
    assert [(f.resource.split()[0], f.path) for f in findings] == [("MetricTemplate", "/spec/query")]
    assert reason in findings[0].message


def test_the_rendered_tree_is_proven_in_process(tmp_path: Path, tool: Callable[[str], str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kustomization render writes is plain and proven without a kustomize process, except flux-system (its
    patch needs the real kustomize): what keeps validate's kustomize part a fraction of kubeconform's time."""
    tool("kustomize")
    from rollouts.validate import kustomize
    from rollouts.validate.manifests import Locator

    project, _ = render_examples(tmp_path)
    built: list[str] = []
    monkeypatch.setattr(kustomize, "_run", lambda binary, directory: (built.append(directory), ("", ""))[1])
    tree = tmp_path / "flux"
    findings = kustomize.validate_builds(str(tree), Locator(project.root))
    assert [f.rule for f in findings] == ["kustomize-bootstrap-files"]
    assert len(kustomize.directories(str(tree))) > 10
    # one process: flux-system, in a scratch copy with the bootstrap stand-ins
    assert [os.path.basename(d) for d in built] == ["flux-system"] and not built[0].startswith(str(tree))


def test_promql_reads_the_documents_kustomize_read(tmp_path: Path, catalog: Path, tool: Callable[[str], str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With kustomize on, the PromQL check takes the documents the kustomize check read instead of reading the
    files again, and finds the same error."""
    for name in ("kustomize", "promtool"):
        tool(name)
    from rollouts.validate import promql

    project, result = render_examples(tmp_path, {"checkout": (END, END.replace("]))", "])"))})
    reads: list[str] = []
    real = promql.load_documents
    monkeypatch.setattr(promql, "load_documents", lambda text: (reads.append(text), real(text))[1])
    findings = validate(project, origins=result.origins, schema_dir=str(catalog), skip_kinds=SKIP, engine="python")
    assert [(f.rule, f.file) for f in findings if f.rule.startswith("promql")] == [
        ("promql-syntax", "services/checkout/rollouts.yaml")]
    assert not [t for t in reads if "kind: MetricTemplate" in t]  # no rendered file parsed a second time
