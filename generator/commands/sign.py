from __future__ import annotations

import argparse
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tree", nargs="?", metavar="TREE",
                        help="the rendered tree to sign (default: flux/ under --root)")
    parser.add_argument("--root", default=".", help="repository root: subject names are relative to it (default: .)")
    parser.add_argument("--key", metavar="KEY",
                        help="cosign-format private key (password in COSIGN_PASSWORD); without it, sign keyless "
                        "with the ambient OIDC identity (GitHub Actions: id-token: write)")
    parser.add_argument("--bundle", metavar="PATH", help="where to write the Sigstore bundle "
                        "(default: beside the tree, TREE.sigstore.json)")
    parser.add_argument("--identity-token", metavar="TOKEN",
                        help="keyless: an OIDC identity token to use instead of the ambient one")
    parser.add_argument("--trust-config", metavar="FILE",
                        help="keyless: a Sigstore ClientTrustConfig JSON for a private instance "
                        "(default: the public-good instance)")


def run(args: argparse.Namespace) -> int:
    from ..sign import sign_tree

    tree = os.path.normpath(args.tree or os.path.join(args.root, "flux"))
    result = sign_tree(tree, args.root, key_path=args.key, identity_token=args.identity_token,
                       trust_config=args.trust_config, bundle_path=args.bundle)
    how = f"key {result.identity}" if result.mode == "key" else f"keyless identity {result.identity}"
    print(f"Signed {result.files} files ({result.bytes} bytes) under {tree} with {how}")
    print(f"Bundle written to {result.bundle_path}")
    return 0
