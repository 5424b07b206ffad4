"""A corpus of broken manifests: each gives the expected Finding with its JSON path, with kubeconform and with the
in-process fallback, against the acceptance catalog (shared flux-schema catalog + Linkerd CRDs from schemas build)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from rollouts.findings import Finding, Severity
from rollouts.project import Project
from rollouts.validate import validate

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  namespace: shop
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: checkout}}
  template:
    metadata:
      labels: {{app: checkout}}
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/checkout:1.4.2
          {extra}: IfNotPresent
"""

CANARY = """
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: checkout
  namespace: shop
spec:
  provider: {provider}
{target}
  service:
    port: 8080
    targetPort: {target_port}
  analysis:
    interval: 1m
    threshold: 3
    stepWeights: [5, 25, 50]
"""
TARGET = """  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: checkout"""

SERVER = """
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata:
  name: checkout
  namespace: shop
  labels: {labels}
spec:
{selector}
  port: {port}
  {protocol_key}: HTTP/2
"""
SELECTOR = """  podSelector:
    matchLabels: {app: checkout}"""


def server(port: str = "8080", labels: str = "{app: checkout}", selector: str = SELECTOR,
           protocol_key: str = "proxyProtocol") -> str:
    return SERVER.format(port=port, labels=labels, selector=selector, protocol_key=protocol_key)

PDB = """
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: checkout
  namespace: shop
spec:
  maxUnavailable: {value}
  selector:
    matchLabels: {{app: checkout}}
"""

HELMRELEASE = """
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: checkout
  namespace: shop
  labels: {labels}
spec:
  interval: 10m
  chartRef: {{kind: OCIRepository, name: checkout}}
  values:
    anything: {{goes: [here]}}
"""


def deployment(replicas: str = "2", extra: str = "imagePullPolicy") -> str:
    return DEPLOYMENT.format(replicas=replicas, extra=extra)


def canary(provider: str = "linkerd", target: str = TARGET, target_port: str = "8080") -> str:
    return CANARY.format(provider=provider, target=target, target_port=target_port)


# id -> (manifest, expected rule, expected JSON path, words one of which the message must contain: kubeconform
# and jsonschema-rs word their messages differently)
BROKEN = {
    "wrong-type": (deployment(replicas='"two"'), "schema-violation", "/spec/replicas", ("integer",)),
    "unknown-field": (deployment(extra="imagePullPolice"), "schema-violation",
                      "/spec/template/spec/containers/0/imagePullPolice", ("imagePullPolice",)),
    "bad-enum": (canary(provider="linkerd2"), "schema-violation", "/spec/provider", ("linkerd2",)),
    "missing-required": (canary(target=""), "schema-violation", "/spec", ("targetRef",)),
    "int-or-string-misuse-crd": (canary(target_port="[8080]"), "schema-violation", "/spec/service/targetPort",
                                 ("got array", "[8080]")),
    "int-or-string-misuse-core": (PDB.format(value="true"), "schema-violation", "/spec/maxUnavailable",
                                  ("got boolean", "true")),
    "int-or-string-misuse-linkerd": (server(port="{name: http}"), "schema-violation", "/spec/port",
                                     ("got object", '{"name":"http"}')),
    "unknown-field-linkerd": (server(protocol_key="proxyProtocl"), "schema-violation", "/spec/proxyProtocl",
                              ("proxyProtocl",)),
    "missing-required-linkerd": (server(selector=""), "schema-violation", "/spec", ("podSelector",)),
    "label-not-string-linkerd": (server(labels="{version: 2}"), "schema-violation", "/metadata/labels/version",
                                 ("string",)),
}

VALID = {
    "deployment": deployment(),
    "canary-int-port": canary(target_port="8080"),
    "canary-named-port": canary(target_port="http"),
    "pdb-percent": PDB.format(value='"25%"'),
    "pdb-int": PDB.format(value="1"),
    "server-named-port": server(port="http"),
    "server-int-port": server(port="4191"),
    "helmrelease-open-values": HELMRELEASE.format(labels="{team: payments}"),
}

ENGINES = ["kubeconform", "python"]


def _engine(engine: str, tool: Callable[[str], str]) -> str:
    if engine == "kubeconform":
        tool("kubeconform")
    return engine


def _run(project: Project, catalog: Path, engine: str, **kw: object) -> list[Finding]:
    return validate(project, schema_dir=str(catalog), engine=engine, promql=False, kustomize=False, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_manifest_gives_its_finding(case: str, engine: str, project: Callable[..., Project],
                                           catalog: Path, tool: Callable[[str], str]) -> None:
    text, rule, path, words = BROKEN[case]
    findings = _run(project({"apps/shop/object.yaml": text}), catalog, _engine(engine, tool))
    assert [(f.rule, f.path) for f in findings] == [(rule, path)], findings
    finding = findings[0]
    assert finding.severity is Severity.ERROR
    assert finding.file == "flux/apps/shop/object.yaml"
    assert finding.line > 0 and finding.column > 0
    assert finding.resource.endswith(" shop/checkout")
    assert any(word in finding.message for word in words), finding.message


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", sorted(VALID))
def test_valid_manifest_is_clean(case: str, engine: str, project: Callable[..., Project], catalog: Path,
                                 tool: Callable[[str], str]) -> None:
    assert _run(project({"apps/shop/object.yaml": VALID[case]}), catalog, _engine(engine, tool)) == []


def test_finding_points_at_the_offending_line(project: Callable[..., Project], catalog: Path,
                                              tool: Callable[[str], str]) -> None:
    tool("kubeconform")
    text = deployment(extra="imagePullPolice")
    findings = _run(project({"apps/shop/d.yaml": text}), catalog, "kubeconform")
    lines = text.lstrip("\n").splitlines()
    assert lines[findings[0].line - 1].strip().startswith("imagePullPolice:")
    assert findings[0].column == lines[findings[0].line - 1].index("imagePullPolice") + 1


@pytest.mark.parametrize("engine", ENGINES)
def test_kind_without_schema_is_an_error_unless_skipped(engine: str, project: Callable[..., Project],
                                                        catalog: Path, tool: Callable[[str], str]) -> None:
    widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: shop}\nspec: {size: 3}\n"
    proj = project({"apps/shop/widget.yaml": widget, "apps/shop/d.yaml": deployment()})
    findings = _run(proj, catalog, _engine(engine, tool))
    assert [(f.rule, f.resource, f.line) for f in findings] == [("schema-missing", "Widget shop/w", 2)]
    assert "--skip Widget" in findings[0].hint
    assert _run(proj, catalog, engine, skip_kinds=["Widget"]) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_duplicate_keys_are_errors(engine: str, project: Callable[..., Project], catalog: Path,
                                   tool: Callable[[str], str]) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\ndata: {}\n"
    findings = _run(project({"apps/cm.yaml": text}), catalog, _engine(engine, tool))
    assert [(f.rule, f.file, f.line) for f in findings] == [("manifest-unreadable", "flux/apps/cm.yaml", 5)]


def test_kustomization_files_are_left_to_kustomize(project: Callable[..., Project], catalog: Path,
                                                   tool: Callable[[str], str]) -> None:
    tool("kubeconform")
    proj = project({"apps/kustomization.yaml": "resources: [d.yaml]\n", "apps/d.yaml": deployment()})
    assert _run(proj, catalog, "kubeconform") == []


def test_origins_place_the_finding_in_rollouts_yaml(project: Callable[..., Project], catalog: Path,
                                                    tool: Callable[[str], str]) -> None:
    tool("kubeconform")
    proj = project({"apps/shop/canary.yaml": canary(provider="linkerd2")})
    origins = {"Canary/shop/checkout": {"": ("services/checkout/rollouts.yaml", 8, 3),
                                        "/spec": ("services/checkout/rollouts.yaml", 20, 3),
                                        "/spec/provider": ("services/checkout/rollouts.yaml", 23, 15)}}
    findings = _run(proj, catalog, "kubeconform", origins=origins)
    assert [(f.file, f.line, f.column, f.path) for f in findings] == [
        ("services/checkout/rollouts.yaml", 23, 15, "/spec/provider")]
    assert "rendered at flux/apps/shop/canary.yaml:7:13" in findings[0].message
    assert findings[0].resource == "Canary shop/checkout"
    # the nearest ancestor the render knows, when it does not know the field itself
    del origins["Canary/shop/checkout"]["/spec/provider"]
    findings = _run(proj, catalog, "kubeconform", origins=lambda: origins)
    assert [(f.file, f.line) for f in findings] == [("services/checkout/rollouts.yaml", 20)]


def test_fallback_says_it_is_one(project: Callable[..., Project], catalog: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from rollouts.validate import kubeconform

    monkeypatch.setattr(kubeconform, "find_kubeconform", lambda: None)  # kubeconform "not installed"
    findings = validate(project({"apps/d.yaml": deployment()}), schema_dir=str(catalog), promql=False,
                        kustomize=False)
    assert [(f.rule, f.severity) for f in findings] == [("kubeconform-missing", Severity.WARNING)]
    assert "in-process fallback" in findings[0].message and "go install" in findings[0].hint


def test_required_kubeconform_missing_says_how_to_install(project: Callable[..., Project], catalog: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from rollouts.errors import ToolMissing
    from rollouts.validate import kubeconform

    monkeypatch.setattr(kubeconform, "find_kubeconform", lambda: None)  # kubeconform "not installed"
    with pytest.raises(ToolMissing, match="kubeconform is not installed") as e:
        validate(project({"apps/d.yaml": deployment()}), schema_dir=str(catalog), engine="kubeconform")
    assert "go install github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0" in e.value.hint
