"""``rollouts controller build-context DIR [--root DIR] [--wheelhouse DIR]``: the analysis controller's image build
context (the lead attaches ``build_context_command`` to the ``controller`` group)."""

from __future__ import annotations

import os

import click


@click.command("build-context", short_help="write the analysis controller's image build context",
               help="Write the analysis controller's image build context into DIR: a Dockerfile (FROM "
               "controller.baseImage in rollouts.project.yaml), the rollouts wheel and requirements.txt with the "
               "exact versions of rollouts[controller]'s dependencies as installed here. Build it offline with "
               "podman or buildah once wheels/ holds the requirements' wheels too (--wheelhouse copies them).")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--root", default=".", metavar="DIR", help="repository root with rollouts.project.yaml (default: .)")
@click.option("--wheelhouse", metavar="DIR", type=click.Path(exists=True, file_okay=False),
              help="a directory of wheels: those of the pinned requirements are copied into DIR/wheels")
def build_context_command(out_dir: str, root: str, wheelhouse: str | None) -> int:
    from ..controller_image import build_context
    from ..project import load_project

    project = load_project(root)  # a RolloutsError (no checkout, a missing package) is the CLI's to print
    for finding in project.findings:  # an image not pinned by digest: warned, not refused
        click.echo(f"{finding.location}: {finding.severity.value}: {finding.message}", err=True)
    for name in build_context(out_dir, project, wheelhouse=wheelhouse):
        click.echo(os.path.join(out_dir, name))
    return 0
