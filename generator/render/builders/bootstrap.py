"""What ``flux bootstrap git --path flux/bootstrap`` applies: flux-system/ is bootstrap's own folder, where we own
only the kustomization.yaml (kept by bootstrap) that makes its GitRepository verify commits too; our objects are in
rollouts/: this repository and the layers' sources, the layers' Flux Kustomizations in order, and (from
render.derived) one file of Kustomizations per environment. First in the chain: the Gateway API CRDs."""

from __future__ import annotations

from collections.abc import Sequence

from ..engine import Doc, Expected
from ..infra import BOOT, LAYER, PINS, Layer, flux_kustomization
from ..model import kustomization
from ..options import RenderOptions


def gateway_api(options: RenderOptions) -> Layer:
    """The Gateway API CRDs, from the upstream repository at the pinned tag (Linkerd and Flagger need them)."""
    source = Doc("bootstrap/gateway-api.yaml.j2", {"pins": PINS},
                 Expected("source.toolkit.fluxcd.io/v1", "GitRepository", "gateway-api", "flux-system"))
    return Layer(flux_kustomization("gateway-api-crds", "./config/crd/standard", (), "gateway-api", prune=False),
                 sources=(source,))


def bootstrap(environments: Sequence[str], options: RenderOptions, layers: Sequence[Layer]) -> dict[str, list[Doc]]:
    """The bootstrap files (path -> documents), with the chain of ``layers``."""
    repo = {"name": options.repo_name, "url": options.repo_url, "branch": options.branch,
            "secret_ref": options.secret_ref, "verify_secret": options.verify_secret}
    return {
        f"{BOOT}/kustomization.yaml": [kustomization(["flux-system", "rollouts"])],
        f"{BOOT}/flux-system/kustomization.yaml": [
            Doc("bootstrap/flux-system-kustomization.yaml.j2", {"verify_secret": options.verify_secret},
                Expected("kustomize.config.k8s.io/v1beta1", "Kustomization", "", ""))],
        f"{LAYER}/repository.yaml": [
            Doc("bootstrap/repository.yaml.j2", {"repo": repo},
                Expected("source.toolkit.fluxcd.io/v1", "GitRepository", options.repo_name, "flux-system")),
            *(source for layer in layers for source in layer.sources)],
        f"{LAYER}/infrastructure.yaml": [layer.kustomization for layer in layers],
        # apps-<env>.yaml (the per-service Kustomizations) depend on the services: render.derived.derived_files
        f"{LAYER}/kustomization.yaml": [kustomization(
            [f"apps-{env}.yaml" for env in environments] + ["infrastructure.yaml", "repository.yaml"])],
    }
