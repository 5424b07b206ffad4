"""Admission of images (issue 9, item 7): only images signed by the project's signer, and only from the registries
an environment allows, are admitted in that environment's namespaces.

Two admission controllers, each doing what it can do per environment:

- **sigstore policy-controller** (the ``policy_controller`` layer, after cert-manager, only when
  ``admission:`` in rollouts.project.yaml names a signer) checks signatures. Its ClusterImagePolicies are
  cluster-wide (no namespace selector: ``spec.match`` selects on the resource's own labels), so per environment it
  gets ``rollouts-signed-<env>``: images of that environment's registries need the signer's signature. Its webhook
  selects the namespaces of the project's environments (label rollouts.dev/environment, which every apps namespace
  carries: no extra opt-in label), and an image no policy matches is denied (``no-match-policy: deny``).
- a **ValidatingAdmissionPolicy** (Kubernetes' own, CEL) per environment, bound by namespace label to that
  environment's namespaces, rejects a Pod with an image outside the environment's registries. A
  ClusterImagePolicy cannot: an image of staging's registry matches staging's policy in production's namespaces too.

Linkerd injects its proxy (cr.l5d.io/linkerd/...) into every meshed Pod after the workload was written; those
images pass by registry (``rollouts-mesh-<env>``, a static pass), and the registry policy allows them.

Why not Kyverno: its ``ClusterPolicy`` (verifyImages) is deprecated since Kyverno 1.17 and planned for removal in
1.20; its successor ImageValidatingPolicy would bring Kyverno's four controllers to do what policy-controller and
the API server's own policy do here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..engine import Doc, Expected
from ..infra import (
    MANAGED,
    PINS,
    Layer,
    flux_kustomization,
    helm_release,
    helm_repository,
    object_name,
    system_namespace,
)
from ..options import RenderOptions

NAME = "policy-controller"
NAMESPACE = "cosign-system"  # the chart's documented namespace; a key's Secret must be in it
DIRECTORY = "flux/infrastructure/policy-controller"
CHARTS = "https://sigstore.github.io/helm-charts"  # charts/policy-controller of sigstore/helm-charts
ENVIRONMENT_LABEL = "rollouts.dev/environment"
MESH_IMAGES = ("cr.l5d.io/linkerd",)  # Linkerd's proxy and proxy-init, injected into every meshed Pod
FOLDER = "admission"  # flux/apps/<env>/admission/
LABELS = {**MANAGED, "app.kubernetes.io/part-of": "rollouts"}
# on rollouts-signed-<env>: the environment's registries as JSON, read back by a partial render (render.derived)
REGISTRIES_ANNOTATION = "rollouts.dev/allowed-registries"
# the storage version (v1beta1 has the same schema but is converted by policy-controller's own webhook: applying it
# fails until that webhook runs, and in every cluster without it)
SIGNED_API = "policy.sigstore.dev/v1alpha1"
VAP_API = "admissionregistration.k8s.io/v1"


def policy_controller(options: RenderOptions) -> Layer | None:
    """The policy-controller (pinned chart), its webhook on the namespaces of the project's environments; none
    when the project names no signer (without a ClusterImagePolicy it would deny every image there)."""
    if not options.admission:
        return None
    values = {"webhook": {
        "failurePolicy": "Fail",  # fail closed: an unreachable webhook admits nothing
        "configData": {"no-match-policy": "deny"},  # an image no ClusterImagePolicy names is rejected
        "namespaceSelector": {"matchExpressions": [
            {"key": ENVIRONMENT_LABEL, "operator": "In", "values": sorted(options.environments)},
            {"key": "app.kubernetes.io/managed-by", "operator": "In", "values": ["rollouts"]}]},
    }}
    release = helm_release(NAME, NAMESPACE, chart=NAME, version=PINS[NAME], source="sigstore", values=values)
    return Layer(flux_kustomization(NAME, f"./{DIRECTORY}", ("cert-manager",), options.repo_name), DIRECTORY,
                 {"namespace.yaml": [system_namespace(NAMESPACE, MANAGED)],
                  "source.yaml": [helm_repository("sigstore", NAMESPACE, CHARTS)],
                  "release.yaml": [release]})


def environment_registries(specs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The registries an environment allows: the union of its services' policy.allowedRegistries (resolved specs
    of that environment), without trailing slashes, sorted. A service without the list adds none."""
    found: set[str] = set()
    for spec in specs:
        found.update(str(r).rstrip("/") for r in (spec.get("policy") or {}).get("allowedRegistries") or ())
    return sorted(r for r in found if r)


def image_globs(registry: str) -> list[str]:
    """The ClusterImagePolicy globs of one allowed registry: its images (``**`` spans "/", so any path, tag or
    digest below it) and the repository itself with a tag. policy-controller matches the glob against the
    reference's full name, Docker Hub's as index.docker.io/... (config/glob.go), hence docker.io's rewrite."""
    if registry == "docker.io" or registry.startswith("docker.io/"):
        registry = "index." + registry
    return [f"{registry}/**", f"{registry}:**"]


def authority(signer: Mapping[str, Any]) -> dict[str, Any]:
    """The ClusterImagePolicy authority of the project's signer (admission.keyless or admission.key)."""
    if "key" in signer:
        return {"name": "signer", "key": {"secretRef": {"name": str(signer["key"]["secretRef"]),
                                                        "namespace": NAMESPACE}}}
    keyless = signer["keyless"]
    identity = {"issuer": str(keyless["issuer"])}
    for field in ("subject", "subjectRegExp"):
        if keyless.get(field):
            identity[field] = str(keyless[field])
    return {"name": "signer", "keyless": {"identities": [identity]}}


def image_prefix_check(prefix: str) -> str:
    """CEL: the image ``c.image`` is the repository ``prefix`` or below it (as lint's image-registry rule reads
    it: the repository itself, a path below it, a tag or a digest of it)."""
    quoted = "'" + prefix.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return (f"c.image == {quoted} || c.image.startsWith({quoted} + '/') || c.image.startsWith({quoted} + ':') "
            f"|| c.image.startsWith({quoted} + '@')")


def registries_expression(registries: Sequence[str]) -> str:
    """CEL: every container, init container and ephemeral container of the Pod has an allowed image (one ``all``
    per list: Container and EphemeralContainer are different types to the API server's type check)."""
    allowed = " || ".join(image_prefix_check(p) for p in [*registries, *MESH_IMAGES])
    return (f"object.spec.containers.all(c, {allowed})"
            f" && (!has(object.spec.initContainers) || object.spec.initContainers.all(c, {allowed}))"
            f" && (!has(object.spec.ephemeralContainers) || object.spec.ephemeralContainers.all(c, {allowed}))")


def environment_policies(environment: str, registries: Sequence[str], signer: Mapping[str, Any]) -> list[Doc]:
    """The admission policies of one environment; none without registries (its images then match no
    ClusterImagePolicy and are denied: set policy.allowedRegistries on its services)."""
    if not registries:
        return []
    labels = {**LABELS, ENVIRONMENT_LABEL: environment}
    signed = object_name(f"rollouts-signed-{environment}")
    mesh = object_name(f"rollouts-mesh-{environment}")
    registry = object_name(f"rollouts-registries-{environment}")
    listed = ", ".join(registries)
    return [
        Doc("infrastructure/admission/clusterimagepolicy.yaml.j2", {"cip": {
            "apiVersion": SIGNED_API, "name": signed, "labels": labels,
            "annotations": {REGISTRIES_ANNOTATION: json.dumps(list(registries))},
            "images": [{"glob": g} for r in registries for g in image_globs(r)],
            "authorities": [authority(signer)]}}, Expected(SIGNED_API, "ClusterImagePolicy", signed, "")),
        Doc("infrastructure/admission/clusterimagepolicy.yaml.j2", {"cip": {
            "apiVersion": SIGNED_API, "name": mesh, "labels": labels, "annotations": {},
            "images": [{"glob": f"{r}/**"} for r in MESH_IMAGES],
            "authorities": [{"name": "mesh", "static": {"action": "pass"}}]}},
            Expected(SIGNED_API, "ClusterImagePolicy", mesh, "")),
        Doc("infrastructure/admission/registries.yaml.j2", {"vap": {
            "name": registry, "labels": labels, "expression": registries_expression(registries),
            "message": f"an image of this pod is not from a registry environment {environment} allows ({listed})",
            "namespaces": {ENVIRONMENT_LABEL: environment, "app.kubernetes.io/managed-by": "rollouts"}}},
            Expected(VAP_API, "ValidatingAdmissionPolicy", registry, ""),
            (Expected(VAP_API, "ValidatingAdmissionPolicyBinding", registry, ""),)),
    ]


def previous_registries(text: str, environment: str) -> list[str] | None:
    """The registries a rendered policies.yaml of ``environment`` was made from (its annotation), or None when
    the text does not say (then the render computes them again)."""
    import yaml_rs

    try:
        loaded: Any = yaml_rs.loads(text, parse_datetime=False)  # a list when the text holds several documents
        for doc in loaded if isinstance(loaded, list) else [loaded]:
            if isinstance(doc, dict) and doc.get("kind") == "ClusterImagePolicy" and \
                    doc["metadata"]["name"] == object_name(f"rollouts-signed-{environment}"):
                found = json.loads(doc["metadata"]["annotations"][REGISTRIES_ANNOTATION])
                if isinstance(found, list) and all(isinstance(r, str) and r for r in found):
                    return sorted(found)
    except (ValueError, KeyError, TypeError, yaml_rs.YAMLDecodeError):
        return None
    return None


def admission_kustomization_name(environment: str) -> str:
    return object_name(f"admission-{environment}")


def admission_kustomization(environment: str, source: str = RenderOptions.repo_name) -> Doc:
    """The Flux Kustomization applying one environment's policies (flux/apps/<env>/admission), after the
    policy-controller (its CRD)."""
    return flux_kustomization(admission_kustomization_name(environment), f"./flux/apps/{environment}/{FOLDER}",
                              (NAME,), source, timeout="2m")


__all__ = ["FOLDER", "NAME", "admission_kustomization", "admission_kustomization_name", "environment_policies",
           "environment_registries", "policy_controller", "previous_registries"]
