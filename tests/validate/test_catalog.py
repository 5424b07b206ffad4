"""`schemas build`: Kubernetes core kinds from kubernetes-validate, strict CRD conversion, catalog merge."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from rollouts.catalog import crd, schema_path
from rollouts.catalog.build import build
from rollouts.errors import RolloutsError
from rollouts.project import Project
from rollouts.validate import validate

CORE = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {linkerd.io/inject: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop}
spec:
  selector: {matchLabels: {app: checkout}}
  template:
    metadata: {labels: {app: checkout}}
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/checkout:1.4.2
          ports: [{name: http, containerPort: 8080}]
          resources: {requests: {cpu: 250m, memory: 256Mi}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: checkout, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: checkout}
  minReplicas: 2
  maxReplicas: 10
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: checkout, namespace: shop}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: checkout}}
---
apiVersion: v1
kind: Service
metadata: {name: checkout-web, namespace: shop}
spec:
  ports: [{port: 80, targetPort: http}]
  selector: {app: checkout}
"""


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        out = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return out.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_core_kinds_validate_offline_from_kubernetes_validate_alone(
        core_catalog: Path, project: Callable[..., Project], tool: Callable[[str], str]) -> None:
    tool("kubeconform")
    index = json.loads((core_catalog / "catalog.json").read_text())
    assert [s["type"] for s in index["sources"]] == ["kubernetes-validate"]
    proj = project({"apps/shop/core.yaml": CORE})
    assert validate(proj, schema_dir=str(core_catalog), engine="kubeconform", promql=False, kustomize=False) == []
    broken = CORE.replace("maxReplicas: 10", 'maxReplicas: "10"').replace("image:", "imag:")
    proj = project({"apps/shop/core.yaml": broken})
    findings = validate(proj, schema_dir=str(core_catalog), engine="kubeconform", promql=False, kustomize=False)
    assert sorted((f.resource, f.path) for f in findings) == [
        ("Deployment shop/checkout", "/spec/template/spec/containers/0/imag"),
        ("HorizontalPodAutoscaler shop/checkout", "/spec/maxReplicas"),
    ]


def test_core_schemas_are_standalone(core_catalog: Path) -> None:
    deployment = json.loads((core_catalog / "apps" / "deployment_v1.json").read_text())
    refs = _refs(deployment)
    assert refs and all(r.startswith("#/$defs/") for r in refs)
    assert all(r[len("#/$defs/"):] in deployment["$defs"] for r in refs)
    assert "$id" not in deployment
    assert (core_catalog / "core" / "service_v1.json").is_file()
    assert (core_catalog / "networking.k8s.io" / "ingress_v1.json").is_file()
    # IntOrString accepts null (oneOf of two nullable types would not)
    pdb = jsonschema_rs.validator_for(json.loads((core_catalog / "policy" / "poddisruptionbudget_v1.json").read_text()))
    doc = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "x"}}
    for value in (1, "25%", None):
        assert pdb.is_valid({**doc, "spec": {"maxUnavailable": value}})
    assert not pdb.is_valid({**doc, "spec": {"maxUnavailable": 1.5}})


def test_unknown_kubernetes_version_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(RolloutsError, match=r"no schemas for Kubernetes 1\.9") as e:
        build(str(tmp_path / "out"), "1.9")
    assert "1.34" in e.value.hint
    with pytest.raises(RolloutsError, match="not a Kubernetes version"):
        build(str(tmp_path / "out"), "latest")


def test_build_is_deterministic_and_replaces_only_its_own_catalogs(tmp_path: Path, shared: Path) -> None:
    crds = [str(shared / "crds" / "flagger")]
    first = build(str(tmp_path / "a"), None, crds)
    build(str(tmp_path / "b"), None, crds)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    assert first.total == 3  # Canary, MetricTemplate, AlertProvider
    build(str(tmp_path / "a"), None, crds)  # a rebuild replaces its own catalog
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(RolloutsError, match="not a schema catalog"):
        build(str(mine), None, crds)
    assert (mine / "notes.txt").read_text() == "keep me"


def test_layers_later_wins_and_v1_is_core(tmp_path: Path) -> None:
    old = tmp_path / "old"
    (old / "v1").mkdir(parents=True)
    (old / "v1" / "service_v1.json").write_text('{"type": "object", "title": "from the catalog"}')
    (old / "example.com").mkdir()
    (old / "example.com" / "widget_v1.json").write_text('{"type": "object"}')
    report = build(str(tmp_path / "out"), "1.34", catalogs=[str(old)])
    assert (tmp_path / "out" / "example.com" / "widget_v1.json").is_file()
    service = json.loads((tmp_path / "out" / "core" / "service_v1.json").read_text())
    assert service.get("title") != "from the catalog"  # core kinds of the chosen version come after catalogs
    assert report.counts[f"catalog {old}"] == 2


# --- CRD conversion -----------------------------------------------------------------------------------------

WIDGET = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "names": {"kind": "Widget", "plural": "widgets"},
        "scope": "Namespaced",
        "versions": [
            {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "required": ["port"],
                        "properties": {
                            "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"},
                                                                                     {"type": "string"}]},
                            "legacy": {"type": "string", "format": "int-or-string"},
                            "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            "limits": {"type": "object", "properties": {"cpu": {"type": "string"}},
                                       "x-kubernetes-preserve-unknown-fields": True},
                            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                            "empty": {"type": "object"},
                            "note": {"type": "string", "nullable": True, "enum": ["a", "b"]},
                            "weight": {"type": "integer", "minimum": 0, "exclusiveMinimum": True,
                                       "maximum": 100, "exclusiveMaximum": False},
                            "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                                         "properties": {"spec": {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}}},
                            "mode": {"type": "object", "properties": {"a": {"type": "string"},
                                                                       "b": {"type": "string"}},
                                     "oneOf": [{"required": ["a"]}, {"required": ["b"],
                                                                      "properties": {"b": {"minLength": 2}}}]},
                        },
                        "x-kubernetes-validations": [{"rule": "self.port != 0"}],
                    },
                },
            }}},
            {"name": "v1beta1", "served": True, "storage": False, "schema": {"openAPIV3Schema": {
                "type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {
                    "type": "integer"}}}}}}},
            {"name": "v1alpha1", "served": False, "storage": False, "schema": {"openAPIV3Schema": {
                "type": "object"}}},
        ],
    },
}


def _widget_validator() -> Any:
    schemas = crd.convert_crd(WIDGET)
    assert sorted(schemas) == ["example.com/widget_v1.json", "example.com/widget_v1beta1.json"]  # served only
    return jsonschema_rs.validator_for(schemas["example.com/widget_v1.json"])


def _widget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "x"},
            "spec": {"port": 8080, **spec}}


@pytest.mark.parametrize(("spec", "ok"), [
    pytest.param({}, True, id="minimal"),
    pytest.param({"port": "http"}, True, id="int-or-string-string"),
    pytest.param({"port": [1]}, False, id="int-or-string-array"),
    pytest.param({"port": 1.5}, False, id="int-or-string-float"),
    pytest.param({"legacy": 3}, True, id="format-int-or-string-int"),
    pytest.param({"legacy": {"a": 1}}, False, id="format-int-or-string-object"),
    pytest.param({"values": {"any": {"thing": [1]}}}, True, id="preserve-unknown-open"),
    pytest.param({"limits": {"cpu": "1", "gpu": "2"}}, True, id="preserve-unknown-with-properties"),
    pytest.param({"limits": {"cpu": 1}}, False, id="preserve-unknown-still-typed"),
    pytest.param({"labels": {"a": "b"}}, True, id="map"),
    pytest.param({"labels": {"a": 1}}, False, id="map-value-type"),
    pytest.param({"empty": {}}, True, id="empty-object"),
    pytest.param({"empty": {"x": 1}}, False, id="empty-object-is-closed"),
    pytest.param({"portt": 1}, False, id="unknown-field"),
    pytest.param({"note": None}, True, id="nullable"),
    pytest.param({"note": "c"}, False, id="nullable-enum"),
    pytest.param({"weight": 0}, False, id="exclusive-minimum"),
    pytest.param({"weight": 100}, True, id="non-exclusive-maximum"),
    pytest.param({"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"a": 1}}},
                 True, id="embedded-resource"),
    pytest.param({"template": {"other": 1}}, False, id="embedded-resource-closed"),
    pytest.param({"mode": {"a": "x"}}, True, id="oneof-branch-stays-open"),
    pytest.param({"mode": {"b": "yy"}}, True, id="oneof-branch-with-properties"),
    pytest.param({"mode": {"b": "y"}}, False, id="oneof-branch-checks-values"),
])
def test_crd_conversion(spec: dict[str, Any], ok: bool) -> None:
    assert _widget_validator().is_valid(_widget(**spec)) is ok


def test_crd_root_and_metadata_are_strict() -> None:
    validator = _widget_validator()
    assert not validator.is_valid({**_widget(), "extra": 1})
    assert not validator.is_valid({**_widget(), "metadata": {"name": "w", "labels": {"version": 2}}})
    assert not validator.is_valid({**_widget(), "metadata": {"name": "w", "nmae": "x"}})
    assert validator.is_valid({**_widget(), "metadata": {"name": "w", "annotations": {"a": "b"}}})
    no_spec = {k: v for k, v in _widget().items() if k != "spec"}
    assert validator.is_valid(no_spec)
    assert not validator.is_valid({**no_spec, "spec": {}})  # required port


def test_crd_conversion_drops_cel_and_descriptions() -> None:
    text = json.dumps(crd.convert_crd(WIDGET))
    assert "x-kubernetes" not in text and "description" not in text and "nullable" not in text


def test_linkerd_helm_templates_are_handled(tmp_path: Path, shared: Path) -> None:
    templates = shared / "crds" / "linkerd" / "helm-templates"
    schemas, notes, findings = crd.load_crd_files([str(templates)])
    assert not findings
    assert "policy.linkerd.io/server_v1beta3.json" in schemas
    assert any("dropped 3 templated metadata line(s)" in n for n in notes)
    cleaned, _, _ = crd.load_crd_files([str(shared / "crds" / "linkerd" / "server.yaml")])
    assert cleaned["policy.linkerd.io/server_v1beta3.json"] == schemas["policy.linkerd.io/server_v1beta3.json"]
    # a template that reaches into the schema is refused, with the reason
    bad = tmp_path / "bad.yaml.tpl"
    bad.write_text((templates / "server.yaml.tpl").read_text().replace("type: string", "type: {{ .Values.t }}", 1))
    schemas, notes, findings = crd.load_crd_files([str(bad)])
    assert schemas == {} and not findings
    assert notes == [f"skipped {bad}: a Helm template with template code inside spec "
                     "(render it with `helm template` first)"]


def test_missing_crd_path_is_a_finding(tmp_path: Path) -> None:
    report = build(str(tmp_path / "out"), "1.34", crds=[str(tmp_path / "nope.yaml")])
    assert [f.rule for f in report.findings] == ["schemas-crd-missing"]


def test_schema_path_layout(tmp_path: Path) -> None:
    assert schema_path("/c", "apps/v1", "Deployment") == os.path.join("/c", "apps", "deployment_v1.json")
    assert schema_path("/c", "v1", "Service") == os.path.join("/c", "core", "service_v1.json")


def test_find_catalog_builds_offline_once(tmp_path: Path, shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rollouts.catalog import find_catalog

    monkeypatch.delenv("ROLLOUTS_SCHEMAS", raising=False)
    crds = tmp_path / ".rollouts" / "crds" / "flagger"
    crds.mkdir(parents=True)
    (crds / "crd.yaml").write_bytes((shared / "crds" / "flagger" / "crd.yaml").read_bytes())
    catalog = tmp_path / ".rollouts" / "catalogs" / "extra"
    (catalog / "example.com").mkdir(parents=True)
    (catalog / "example.com" / "widget_v1.json").write_text('{"type": "object"}')
    (catalog.parent / "extra.tar.gz").write_bytes(b"the archive it was extracted from")
    path = find_catalog(str(tmp_path))
    assert path == str(tmp_path / ".rollouts" / "schemas")
    assert (tmp_path / ".rollouts" / "schemas" / "example.com" / "widget_v1.json").is_file()
    assert (tmp_path / ".rollouts" / "schemas" / "flagger.app" / "canary_v1beta1.json").is_file()
    assert (tmp_path / ".rollouts" / "schemas" / "apps" / "deployment_v1.json").is_file()
    stamp = (tmp_path / ".rollouts" / "schemas" / "catalog.json").stat().st_mtime_ns
    assert find_catalog(str(tmp_path)) == path  # an existing catalog is used as it is
    assert (tmp_path / ".rollouts" / "schemas" / "catalog.json").stat().st_mtime_ns == stamp
    with pytest.raises(RolloutsError, match="no schema catalog"):
        find_catalog(str(tmp_path), explicit=str(tmp_path / "elsewhere"))
