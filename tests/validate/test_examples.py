"""Acceptance: the repository's examples, rendered by generator.render, validate clean with kubeconform -strict
against the shared flux-schema catalog plus the Linkerd policy CRDs converted by `schemas build`; a PromQL error in
a custom metric is reported at its line of rollouts.yaml."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from generator.validate import validate
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
    assert findings == []
    # the skipped kinds are there and would otherwise be errors, one per object
    unskipped = validate(project, schema_dir=str(catalog), engine="kubeconform", promql=False, kustomize=False)
    assert unskipped and {f.rule for f in unskipped} == {"schema-missing"}
    assert {f.resource.split()[0] for f in unskipped} == {k.rsplit("/", 1)[1] for k in SKIP}


def test_promql_error_in_a_custom_metric_is_reported_at_its_line(tmp_path: Path, catalog: Path,
                                                                  tool: Callable[[str], str]) -> None:
    tool("promtool")
    broken = "/\n        sum(rate(response_total{namespace=\"{{ namespace }}\", deployment=~\"{{ target }}\", " \
             "direction=\"inbound\"}[{{ interval }}])\n"
    spec = (Path(__file__).resolve().parents[2] / "services" / "checkout" / "rollouts.yaml").read_text()
    start = spec.index("      query: |")
    old = spec[start:spec.index("      max:", start)]
    new = old[:old.rindex("/")] + broken
    project, result = render_examples(tmp_path, {"checkout": (old, new)})
    findings = validate(project, origins=result.origins, schema_dir=str(catalog), skip_kinds=SKIP,
                        kustomize=False, engine="python")
    assert [(f.rule, f.file) for f in findings] == [("promql-syntax", "services/checkout/rollouts.yaml")] * 2
    query_line = spec[:start].count("\n") + 1
    assert {f.line for f in findings} == {query_line}
    assert {f.resource.split()[0] for f in findings} == {"MetricTemplate"}
    assert all("unclosed left parenthesis" in f.message for f in findings)
