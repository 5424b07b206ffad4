from __future__ import annotations

import os

import click

from ..cli import COMMANDS


@click.command("sign", help=COMMANDS["sign"] + "\n\nTREE: the rendered tree to sign (default: flux/ under --root).")
@click.argument("tree", required=False, metavar="[TREE]")
@click.option("--root", default=".", metavar="DIR",
              help="repository root: subject names are relative to it (default: .)")
@click.option("--key", metavar="KEY",
              help="cosign-format private key (password in COSIGN_PASSWORD); without it, sign keyless with the "
              "ambient OIDC identity (GitHub Actions: id-token: write)")
@click.option("--bundle", metavar="PATH",
              help="where to write the Sigstore bundle (default: beside the tree, TREE.sigstore.json)")
@click.option("--identity-token", metavar="TOKEN",
              help="keyless: an OIDC identity token to use instead of the ambient one")
@click.option("--trust-config", metavar="FILE",
              help="keyless: a Sigstore ClientTrustConfig JSON for a private instance (default: the public-good "
              "instance)")
def command(tree: str | None, root: str, key: str | None, bundle: str | None, identity_token: str | None,
            trust_config: str | None) -> int:
    from ..sign import sign_tree

    tree = os.path.normpath(tree or os.path.join(root, "flux"))
    result = sign_tree(tree, root, key_path=key, identity_token=identity_token, trust_config=trust_config,
                       bundle_path=bundle)
    how = f"key {result.identity}" if result.mode == "key" else f"keyless identity {result.identity}"
    print(f"Signed {result.files} files ({result.bytes} bytes) under {tree} with {how}")
    print(f"Bundle written to {result.bundle_path}")
    return 0
