"""Admission of images (issue 9 item 7): the project's signer in rollouts.project.yaml, the policy-controller layer,
and per environment a ClusterImagePolicy (signatures) and a ValidatingAdmissionPolicy (registries), each checked
against its schema (the policy-controller CRD in the shipped catalog, Kubernetes' own for the VAP)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from rollouts.project import load_project
from rollouts.render import RenderResult, options_from_project, render, write_tree
from rollouts.render.builders.admission import environment_policies, environment_registries, image_globs
from rollouts.validate import validate

KEYLESS = """
admission:
  keyless:
    issuer: https://token.actions.githubusercontent.com
    subjectRegExp: ^https://github\\.com/acme/.+/\\.github/workflows/release\\.yml@refs/tags/v.+$
"""


def project_with(root: Path, tmp_path: Path, admission: str) -> Path:
    dest = tmp_path / "project"
    shutil.copytree(root / "services", dest / "services")
    text = (root / "rollouts.project.yaml").read_text(encoding="utf-8")
    (dest / "rollouts.project.yaml").write_text(text + admission, encoding="utf-8")
    return dest


def docs(result: RenderResult, path: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(result.files[path]) if d]


@pytest.fixture
def signed(root: Path, tmp_path: Path) -> tuple[Path, RenderResult]:
    dest = project_with(root, tmp_path, KEYLESS)
    project = load_project(str(dest))
    assert not project.findings, project.findings
    result = render(project, options=options_from_project(project))
    assert result.ok, result.findings
    return dest, result


@pytest.mark.parametrize(("admission", "words"), [
    ("admission: {}\n", "exactly one signer"),
    ("admission:\n  key: {secretRef: k}\n  keyless: {issuer: https://i, subject: s}\n", "exactly one signer"),
    ("admission:\n  keyless: {issuer: https://i}\n", "exactly one of subject and subjectRegExp"),
    ("admission:\n  keyless: {issuer: https://i, subject: a, subjectRegExp: b}\n", "exactly one of subject"),
    ("admission:\n  keyless: {issuer: http://i, subject: a}\n", "https:// URL"),
    ("admission:\n  keyless: {issuer: https://i, subjectRegExp: '(unclosed'}\n", "does not compile"),
    ("admission:\n  key: {}\n", "secretRef"),
])
def test_an_unusable_signer_is_a_project_error(root: Path, tmp_path: Path, admission: str, words: str) -> None:
    project = load_project(str(project_with(root, tmp_path, admission)))
    errors = [f for f in project.findings if f.rule == "project-config" and f.severity.name == "ERROR"]
    assert errors and words in errors[0].message, project.findings
    assert not project.admission


def test_without_a_signer_nothing_is_rendered(rendered: RenderResult) -> None:
    assert not [p for p in rendered.files if "admission" in p or "policy-controller" in p]


def test_the_policy_controller_is_a_pinned_layer_after_cert_manager(signed: tuple[Path, RenderResult]) -> None:
    _, result = signed
    chain = {d["metadata"]["name"]: d for d in docs(result, "flux/bootstrap/rollouts/infrastructure.yaml")}
    assert chain["policy-controller"]["spec"]["dependsOn"] == [{"name": "cert-manager"}]
    release = docs(result, "flux/infrastructure/policy-controller/release.yaml")[0]
    assert release["spec"]["chart"]["spec"]["version"] == "0.10.6"
    webhook = release["spec"]["values"]["webhook"]
    assert webhook["configData"] == {"no-match-policy": "deny"}
    assert webhook["failurePolicy"] == "Fail"
    assert {"key": "rollouts.dev/environment", "operator": "In", "values": ["production", "staging"]} in \
        webhook["namespaceSelector"]["matchExpressions"]
    source = docs(result, "flux/infrastructure/policy-controller/source.yaml")[0]
    assert source["spec"]["url"] == "https://sigstore.github.io/helm-charts"


def test_each_environment_gets_its_policies_after_the_controller(signed: tuple[Path, RenderResult]) -> None:
    _, result = signed
    for env in ("staging", "production"):
        apps = {d["metadata"]["name"]: d for d in docs(result, f"flux/bootstrap/rollouts/apps-{env}.yaml")}
        assert apps[f"admission-{env}"]["spec"]["dependsOn"] == [{"name": "policy-controller"}]
        by_kind = {d["kind"]: d for d in docs(result, f"flux/apps/{env}/admission/policies.yaml")
                   if d["metadata"]["name"] != f"rollouts-mesh-{env}"}
        cip = by_kind["ClusterImagePolicy"]["spec"]
        # the services' policy.allowedRegistries
        assert cip["images"] == [{"glob": "ghcr.io/acme/**"}, {"glob": "ghcr.io/acme:**"}]
        assert cip["authorities"] == [{"name": "signer", "keyless": {"identities": [{
            "issuer": "https://token.actions.githubusercontent.com",
            "subjectRegExp": r"^https://github\.com/acme/.+/\.github/workflows/release\.yml@refs/tags/v.+$"}]}}]
        binding = by_kind["ValidatingAdmissionPolicyBinding"]["spec"]
        assert binding["matchResources"]["namespaceSelector"]["matchLabels"]["rollouts.dev/environment"] == env
        assert binding["validationActions"] == ["Deny"]


def test_a_key_signer_reads_its_secret_in_the_controllers_namespace(root: Path, tmp_path: Path) -> None:
    project = load_project(str(project_with(root, tmp_path, "admission:\n  key: {secretRef: cosign-pub}\n")))
    result = render(project, options=options_from_project(project))
    cip = next(d for d in docs(result, "flux/apps/production/admission/policies.yaml")
               if d["metadata"]["name"] == "rollouts-signed-production")
    assert cip["spec"]["authorities"] == [{"name": "signer", "key": {
        "secretRef": {"name": "cosign-pub", "namespace": "cosign-system"}}}]


def test_the_policies_validate_against_their_schemas(signed: tuple[Path, RenderResult]) -> None:
    """kubeconform (or the in-process engine) with the shipped catalog: the ClusterImagePolicy against the
    policy-controller CRD, the VAP and its binding against Kubernetes' own schemas; nothing is skipped."""
    dest, result = signed
    project = load_project(str(dest))
    write_tree(project, result, str(dest / "flux"))
    findings = validate(project, str(dest / "flux"), promql=False)
    errors = [f for f in findings if f.severity.name == "ERROR"]
    assert not errors, errors
    assert not [f for f in findings if "ClusterImagePolicy" in f.message or "ValidatingAdmission" in f.message]


def test_a_docker_hub_registry_is_globbed_as_policy_controller_names_it() -> None:
    """policy-controller matches a glob against go-containerregistry's full name: index.docker.io/..."""
    assert image_globs("docker.io/acme") == ["index.docker.io/acme/**", "index.docker.io/acme:**"]
    assert image_globs("ghcr.io/acme") == ["ghcr.io/acme/**", "ghcr.io/acme:**"]


def test_the_registries_of_an_environment_are_its_services_union() -> None:
    specs = [{"policy": {"allowedRegistries": ["ghcr.io/acme/", "quay.io/acme"]}}, {"policy": {}}, {},
             {"policy": {"allowedRegistries": ["ghcr.io/acme"]}}]
    assert environment_registries(specs) == ["ghcr.io/acme", "quay.io/acme"]
    assert environment_policies("staging", [], {"key": {"secretRef": "k"}}) == []
