"""Admission of images (issue 9 item 7): the project's signer in rollouts.project.yaml, the policy-controller layer,
and per environment a ClusterImagePolicy (signatures) and a ValidatingAdmissionPolicy (registries), each checked
against its schema (the policy-controller CRD in the shipped catalog, Kubernetes' own for the VAP)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rollouts.project import load_project
from rollouts.render import RenderResult, options_from_project, render, write_tree
from rollouts.render.builders.admission import environment_policies, environment_registries, image_globs
from rollouts.validate import validate

from tests.e2e.cluster import (
    SERVICE_CIDR,
    Cluster,
    bin_dir,
    find_bin,
    free_port,
    kubeconfig_text,
    make_pki,
    new_workdir,
    wait_for,
)

KEYLESS = """
admission:
  keyless:
    issuer: https://token.actions.githubusercontent.com
    subjectRegExp: ^https://github\\.com/acme/.+/\\.github/workflows/release\\.yml@refs/tags/v.+$
"""


def project_with(root: Path, tmp_path: Path, admission: str) -> Path:
    dest = tmp_path / "project"
    shutil.copytree(root / "services", dest / "services")
    settings = yaml.safe_load((root / "rollouts.project.yaml").read_text(encoding="utf-8")) or {}
    settings.pop("admission", None)  # this test's signer, not the repository's
    (dest / "rollouts.project.yaml").write_text(yaml.safe_dump(settings) + admission, encoding="utf-8")
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


def test_without_a_signer_nothing_is_rendered(root: Path, tmp_path: Path) -> None:
    project = load_project(str(project_with(root, tmp_path, "")))
    result = render(project, options=options_from_project(project))
    assert result.ok, result.findings
    assert not [p for p in result.files if "admission" in p or "policy-controller" in p]


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


# --- the registry policy on a real kube-apiserver ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def api_server() -> Iterator[Cluster]:
    """etcd and kube-apiserver of the e2e harness (no controllers: admission needs none) on 127.0.0.1."""
    for name in ("etcd", "kube-apiserver", "kubectl"):
        if find_bin(name) is None:
            message = f"{name} not found in {bin_dir()} (scripts/e2e-build, .ci/setup)"
            if os.environ.get("ROLLOUTS_REQUIRE_TOOLS") == "1" or os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
    workdir = new_workdir()
    cluster = Cluster(workdir)
    pki = workdir / "pki"
    make_pki(pki)
    client, peer = free_port(), free_port()
    cluster.api_port = free_port()
    try:
        cluster.start("etcd", [
            cluster.bin("etcd"), "--name=admission", f"--data-dir={workdir / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{client}", f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=admission=http://127.0.0.1:{peer}", "--unsafe-no-fsync=true", "--log-level=warn"])
        cluster.start("kube-apiserver", [
            cluster.bin("kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{client}", "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1", f"--secure-port={cluster.api_port}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}", f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=Node,RBAC",
            "--endpoint-reconciler-type=none", "--v=1"])
        cluster.kubeconfig.write_text(kubeconfig_text(cluster.server, pki), encoding="utf-8")
        wait_for("kube-apiserver /readyz", cluster._ready, timeout=90)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def pod_admitted(cluster: Cluster, namespace: str, images: list[str], init: list[str] | None = None) -> str:
    """'' when the API server admits a Pod of these images (server dry run: every admission plugin runs), else
    its refusal."""
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": image} for i, image in enumerate(init)]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", "namespace": namespace}, "spec": spec}
    result = cluster.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(pod))
    return "" if result.returncode == 0 else result.stderr.strip()


def test_the_api_server_accepts_the_image_policies(api_server: Cluster, shared: Path,
                                                  signed: tuple[Path, RenderResult]) -> None:
    """The rendered ClusterImagePolicies, server-side dry-run against policy-controller's CRD (its schema and CEL
    rules) on a real kube-apiserver."""
    _, result = signed
    crd = shared / "crds" / "policy-controller" / "300-clusterimagepolicy.yaml"
    api_server.kubectl("apply", "--server-side", "-f", str(crd), check=True)
    api_server.kubectl("wait", "--for=condition=Established", "crd/clusterimagepolicies.policy.sigstore.dev",
                       "--timeout=60s", check=True, timeout=90)
    for env in ("staging", "production"):
        policies = [d for d in docs(result, f"flux/apps/{env}/admission/policies.yaml")
                    if d["kind"] == "ClusterImagePolicy"]
        assert len(policies) == 2
        for policy in policies:
            answer = api_server.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-",
                                        input=json.dumps(policy))
            assert answer.returncode == 0, answer.stderr


def test_the_api_server_rejects_a_pod_from_another_registry(api_server: Cluster,
                                                           signed: tuple[Path, RenderResult]) -> None:
    """The rendered ValidatingAdmissionPolicy and binding, applied to a real kube-apiserver: its CEL compiles, a
    Pod of the allowed registry (with Linkerd's injected proxy) is admitted in production's namespace, one with
    any other image (a look-alike host path, Docker Hub, an init container) is refused with the reason, and
    another environment's namespace is not bound by production's policy."""
    _, result = signed
    api_server.apply(result.files["flux/apps/production/namespaces/shop.yaml"])
    api_server.apply(result.files["flux/apps/staging/namespaces/shop-staging.yaml"])
    for namespace in ("shop", "shop-staging"):  # the ServiceAccount admission plugin wants one (no controllers)
        api_server.kubectl("create", "serviceaccount", "default", "-n", namespace)
    policies = [d for d in docs(result, "flux/apps/production/admission/policies.yaml")
                if d["apiVersion"] == "admissionregistration.k8s.io/v1"]
    api_server.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": policies}),
                       check=True)
    wait_for("the binding in force", lambda: "forbidden" in pod_admitted(api_server, "shop", ["busybox"]).lower()
             or None, timeout=30)
    assert pod_admitted(api_server, "shop", ["ghcr.io/acme/checkout:1.2.3", "cr.l5d.io/linkerd/proxy:edge-26.6.3"],
                        ["cr.l5d.io/linkerd/proxy-init:v2"]) == ""
    assert pod_admitted(api_server, "shop", ["ghcr.io/acme/checkout@sha256:" + "a" * 64]) == ""
    for images, init in ((["ghcr.io/acmeevil/checkout:1"], None), (["docker.io/library/nginx:1"], None),
                         (["ghcr.io/acme/checkout:1"], ["busybox"])):
        refusal = pod_admitted(api_server, "shop", images, init)
        assert "not from a registry environment production allows (ghcr.io/acme)" in refusal, refusal
    assert pod_admitted(api_server, "shop-staging", ["docker.io/library/nginx:1"]) == ""


def test_a_partial_render_keeps_the_environments_policy_whole(signed: tuple[Path, RenderResult]) -> None:
    """The policy is one for the environment: a render of one service reads every service's registries, so a
    registry it adds joins the others' instead of replacing them, and the other environment is left alone."""
    dest, full = signed
    write_tree(load_project(str(dest)), full)
    spec = dest / "services" / "checkout" / "rollouts.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("allowedRegistries: [ghcr.io/acme]",
                                                             "allowedRegistries: [ghcr.io/acme, quay.io/acme]"),
                    encoding="utf-8")
    project = load_project(str(dest))
    part = render(project, services=["checkout"], environments=["production"])
    assert part.ok, part.findings
    write_tree(project, part)
    written = [d for d in yaml.safe_load_all((dest / "flux/apps/production/admission/policies.yaml").read_text())
               if d["kind"] == "ClusterImagePolicy" and d["metadata"]["name"] == "rollouts-signed-production"]
    assert written[0]["spec"]["images"] == [{"glob": "ghcr.io/acme/**"}, {"glob": "ghcr.io/acme:**"},
                                            {"glob": "quay.io/acme/**"}, {"glob": "quay.io/acme:**"}]
    assert (dest / "flux/apps/staging/admission/policies.yaml").read_text() == \
        full.files["flux/apps/staging/admission/policies.yaml"]
