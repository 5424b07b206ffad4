from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ..cli import COMMANDS, output_options, report

if TYPE_CHECKING:
    from ..commit import CommitResult


@click.command("commit", help=COMMANDS["commit"])
@click.option("--root", default=".", metavar="DIR",
              help="the source repository with services/*/rollouts.yaml (default: .)")
@click.option("--repo", metavar="PATH_OR_URL",
              help="the GitOps repository: a working copy (committed in place), or a URL or bare repository "
              "(pushed, with fetch-and-retry when another job pushed first); default: --root")
@click.option("--branch", metavar="B",
              help="branch to commit to (default: the checked-out branch, or main for a remote)")
@click.option("--service", multiple=True, metavar="NAME",
              help="commit only this service's manifests (repeatable); the rest of the tree is kept")
@click.option("--key", metavar="KEY", help="cosign private key for the bundle (COSIGN_PASSWORD); default: keyless "
              "with the ambient OIDC identity")
@click.option("--identity-token", metavar="TOKEN", help="keyless: an explicit OIDC identity token")
@click.option("--trust-config", metavar="FILE", help="keyless: a Sigstore ClientTrustConfig JSON")
@click.option("--signing-key", metavar="SSH_KEY",
              help="sign the commit with this SSH private key (git gpg.format=ssh); not with --gpg-key")
@click.option("--gpg-key", metavar="ID", help="sign the commit with this OpenPGP key; not with --signing-key")
@click.option("--verify-secret", default=None, metavar="NAME",
              help="the Secret (flux-system) holding the commit-signing public key that the rendered "
              "GitRepository's spec.verify names (default: the project's render.verifySecret, else "
              "rollouts-commit-signers)")
@click.option("--schemas", metavar="DIR", help="schema catalog for validation (see rollouts validate)")
@click.option("--skip", multiple=True, metavar="KIND",
              help="validate: do not check this kind against a schema (repeatable)")
@click.option("--skip-validate", is_flag=True,
              help="do not run validate (kubeconform, PromQL, kustomize) before signing")
@click.option("--attempts", type=int, default=5, help="publish attempts when the branch moved (default 5)")
@click.option("--allow-dirty", is_flag=True,
              help="commit a render of uncommitted changes to the specs (the commit message and the bundle name "
              "the uncommitted files; default: refuse)")
@click.option("--dry-run", is_flag=True,
              help="check, render, sign and show what would be committed; commit nothing")
@output_options
def command(root: str, repo: str | None, branch: str | None, service: tuple[str, ...], key: str | None,
            identity_token: str | None, trust_config: str | None, signing_key: str | None, gpg_key: str | None,
            verify_secret: str | None, schemas: str | None, skip: tuple[str, ...], skip_validate: bool,
            attempts: int, allow_dirty: bool, dry_run: bool, fmt: str, strict: bool) -> int:
    if signing_key and gpg_key:
        raise click.UsageError("--gpg-key: not allowed with --signing-key (one key signs the commit)")
    from ..commit import CommitOptions, commit

    opts = CommitOptions(root=root, repo=repo, branch=branch, services=list(service) or None, key=key,
                         identity_token=identity_token, trust_config=trust_config, ssh_signing_key=signing_key,
                         gpg_key=gpg_key, verify_secret=verify_secret, schema_dir=schemas, skip_kinds=tuple(skip),
                         validate=not skip_validate, dry_run=dry_run, attempts=max(1, attempts),
                         allow_dirty=allow_dirty)
    result = commit(opts)
    code = report(result.findings, fmt, strict)
    out = sys.stdout if fmt == "text" else sys.stderr
    if not result.ok:
        print("Nothing was committed.", file=sys.stderr)
        return code
    would_commit = dry_run and _would_commit(result)
    if would_commit:
        print(f"Dry run: would commit to {result.repo} branch {result.branch}:", file=out)
    elif dry_run:
        print(f"Dry run: nothing to commit: {result.repo} branch {result.branch} already holds this render.",
              file=out)
    elif not result.committed:
        print(f"Nothing to commit: {result.repo} branch {result.branch} already holds this render.", file=out)
    else:
        print(f"Committed {result.commit[:12]} to {result.repo} branch {result.branch} "
              f"(attempt {result.attempts}, signed commit, bundle {result.signer})", file=out)
    if result.message and (would_commit or result.committed):
        print("", file=out)
        print("\n".join("    " + line if line else "" for line in result.message.rstrip().splitlines()), file=out)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return code


def _would_commit(result: CommitResult) -> bool:
    """A dry run would commit when a rendered file changed, or to sign again an unsigned HEAD (same tree)."""
    from ..commit import BUNDLE

    return any(path != BUNDLE for _, path in result.changes) or result.message.startswith("rollouts: sign the render")
