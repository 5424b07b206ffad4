"""The render's cluster-level choices (``render:`` in rollouts.project.yaml)."""

from __future__ import annotations

from dataclasses import dataclass

from ..project import PLACEHOLDER_REPOSITORY, Project

# what `rollouts controller build-context` builds and the e2e suite loads locally, until the project pins its own
CONTROLLER_IMAGE = "localhost/rollouts/analysis-controller:dev"


@dataclass(frozen=True)
class RenderOptions:
    """Cluster-level choices: the GitOps repository Flux pulls and the Secret with its credentials, whether Flux
    verifies its commits, the demo pack."""

    repo_url: str = PLACEHOLDER_REPOSITORY
    branch: str = "main"
    repo_name: str = "rollouts"
    # the Secret (flux-system) with the repository's git credentials: with the placeholder URL, the deploy key
    # Secret `flux bootstrap` creates (named flux-system, flag --secret-name); `render.secretRef` in
    # rollouts.project.yaml, required there for an ssh:// repository (generator.project)
    secret_ref: str | None = "flux-system"
    # Flux verifies the signature of every commit it applies (GitRepository spec.verify, mode HEAD) against the
    # public key in this Secret; `render: {verifySecret: ""}` in rollouts.project.yaml turns verification off.
    verify_secret: str | None = "rollouts-commit-signers"
    develop: bool = False
    # the environments (the analysis controller mounts each one's config; builders.infrastructure sets them)
    environments: tuple[str, ...] = ()
    # the analysis controller's image (controller.image in rollouts.project.yaml; pinned by digest there)
    controller_image: str = CONTROLLER_IMAGE
    # admission: in rollouts.project.yaml names an image signer: install sigstore policy-controller
    # (builders.admission; the per-environment policies come from render.derived, which reads the project)
    admission: bool = False


def options_from_project(project: Project) -> RenderOptions:
    """Render options from the ``render:`` section of rollouts.project.yaml, when there is one:
    ``render: {repository: URL, secretRef: NAME, branch: main, develop: false, verifySecret: NAME}``
    (checked by generator.project: an ssh:// repository has a secretRef)."""
    section = project.render
    defaults = RenderOptions()
    secret = section.get("verifySecret", defaults.verify_secret)
    controller = project.controller
    credentials = section.get("secretRef", defaults.secret_ref if "repository" not in section else None)
    return RenderOptions(repo_url=str(section.get("repository", defaults.repo_url)),
                         branch=str(section.get("branch", defaults.branch)),
                         secret_ref=str(credentials) if credentials else None,
                         develop=bool(section.get("develop", False)),
                         verify_secret=str(secret) if secret else None,
                         environments=tuple(project.environments),
                         controller_image=str(controller.get("image") or CONTROLLER_IMAGE),
                         admission=bool(project.admission))
