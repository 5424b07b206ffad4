from __future__ import annotations

import os
import sys

import click

from ..cli import COMMANDS, output_options, report


@click.command("verify",
               help=COMMANDS["verify"] + "\n\nTREE: the rendered tree to verify (default: flux/ under --root).")
@click.argument("tree", required=False, metavar="[TREE]")
@click.option("--root", default=".", metavar="DIR", help="repository root the tree was signed in (default: .)")
@click.option("--bundle", metavar="PATH", help="the Sigstore bundle (default: TREE.sigstore.json)")
@click.option("--key", metavar="KEY", help="public key (PEM) for key-based bundles")
@click.option("--certificate-identity", metavar="ID", help="keyless: the exact signer identity")
@click.option("--certificate-identity-regexp", metavar="RE",
              help="keyless: a regular expression for the signer identity (unanchored, as cosign)")
@click.option("--certificate-oidc-issuer", metavar="URL", help="keyless: the exact OIDC issuer")
@click.option("--certificate-oidc-issuer-regexp", metavar="RE",
              help="keyless: a regular expression for the OIDC issuer (unanchored, as cosign)")
@click.option("--trusted-root", metavar="FILE",
              help="keyless: the Sigstore trusted_root.json to verify against (default: sigstore-python's "
              "offline public-good root); never fetched")
@output_options
def command(tree: str | None, root: str, bundle: str | None, key: str | None, certificate_identity: str | None,
            certificate_identity_regexp: str | None, certificate_oidc_issuer: str | None,
            certificate_oidc_issuer_regexp: str | None, trusted_root: str | None, fmt: str, strict: bool) -> int:
    from ..verify import make_policy, verify_tree

    policy = make_policy(key=key, identity=certificate_identity, identity_regexp=certificate_identity_regexp,
                         issuer=certificate_oidc_issuer, issuer_regexp=certificate_oidc_issuer_regexp,
                         trusted_root=trusted_root)
    tree = os.path.normpath(tree or os.path.join(root, "flux"))
    result = verify_tree(tree, policy, root, bundle)
    code = report(result.findings, fmt, strict)
    if not result.findings:
        out = sys.stdout if fmt == "text" else sys.stderr
        print(f"Verified {tree}: {result.files} files match {result.bundle_path}, signed by {result.signer}",
              file=out)
    return code
