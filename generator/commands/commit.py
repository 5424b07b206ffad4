from __future__ import annotations

import argparse
import sys

from ..cli import add_output_options, report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default=".", help="the source repository with services/*/rollouts.yaml "
                        "(default: .)")
    parser.add_argument("--repo", metavar="PATH_OR_URL",
                        help="the GitOps repository: a working copy (committed in place), or a URL or bare "
                        "repository (pushed, with fetch-and-retry when another job pushed first); default: --root")
    parser.add_argument("--branch", metavar="B", help="branch to commit to (default: the checked-out branch, or "
                        "main for a remote)")
    parser.add_argument("--service", action="append", metavar="NAME",
                        help="commit only this service's manifests (repeatable); the rest of the tree is kept")
    parser.add_argument("--key", metavar="KEY", help="cosign private key for the bundle (COSIGN_PASSWORD); "
                        "default: keyless with the ambient OIDC identity")
    parser.add_argument("--identity-token", metavar="TOKEN", help="keyless: an explicit OIDC identity token")
    parser.add_argument("--trust-config", metavar="FILE", help="keyless: a Sigstore ClientTrustConfig JSON")
    sign = parser.add_mutually_exclusive_group()
    sign.add_argument("--signing-key", metavar="SSH_KEY",
                      help="sign the commit with this SSH private key (git gpg.format=ssh)")
    sign.add_argument("--gpg-key", metavar="ID", help="sign the commit with this OpenPGP key")
    parser.add_argument("--verify-secret", default=None, metavar="NAME",
                        help="the Secret (flux-system) holding the commit-signing public key that the rendered "
                        "GitRepository's spec.verify names (default: the project's render.verifySecret, "
                        "else rollouts-commit-signers)")
    parser.add_argument("--schemas", metavar="DIR", help="schema catalog for validation (see rollouts validate)")
    parser.add_argument("--skip", action="append", default=[], metavar="KIND",
                        help="validate: do not check this kind against a schema (repeatable)")
    parser.add_argument("--skip-validate", action="store_true",
                        help="do not run validate (kubeconform, PromQL, kustomize) before signing")
    parser.add_argument("--attempts", type=int, default=5, help="publish attempts when the branch moved (default 5)")
    parser.add_argument("--dry-run", action="store_true", help="check, render, sign and show what would be "
                        "committed; commit nothing")
    add_output_options(parser)


def run(args: argparse.Namespace) -> int:
    from ..commit import CommitOptions, commit

    opts = CommitOptions(root=args.root, repo=args.repo, branch=args.branch, services=args.service, key=args.key,
                         identity_token=args.identity_token, trust_config=args.trust_config,
                         ssh_signing_key=args.signing_key, gpg_key=args.gpg_key,
                         verify_secret=args.verify_secret, schema_dir=args.schemas,
                         skip_kinds=tuple(args.skip), validate=not args.skip_validate, dry_run=args.dry_run,
                         attempts=max(1, args.attempts))
    result = commit(opts)
    code = report(result.findings, args.fmt, args.strict)
    out = sys.stdout if args.fmt == "text" else sys.stderr
    if not result.ok:
        print("Nothing was committed.", file=sys.stderr)
        return code
    if args.dry_run:
        print(f"Dry run: would commit to {result.repo} branch {result.branch}:", file=out)
    elif not result.committed:
        print(f"Nothing to commit: {result.repo} branch {result.branch} already holds this render.", file=out)
    else:
        print(f"Committed {result.commit[:12]} to {result.repo} branch {result.branch} "
              f"(attempt {result.attempts}, signed commit, bundle {result.signer})", file=out)
    if result.message and (args.dry_run or result.committed):
        print("", file=out)
        print("\n".join("    " + line if line else "" for line in result.message.rstrip().splitlines()), file=out)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return code
