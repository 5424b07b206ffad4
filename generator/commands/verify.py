from __future__ import annotations

import argparse
import os
import sys

from ..cli import add_output_options, report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tree", nargs="?", metavar="TREE", help="the rendered tree to verify (default: flux/ under "
                        "--root)")
    parser.add_argument("--root", default=".", help="repository root the tree was signed in (default: .)")
    parser.add_argument("--bundle", metavar="PATH", help="the Sigstore bundle (default: TREE.sigstore.json)")
    parser.add_argument("--key", metavar="KEY", help="public key (PEM) for key-based bundles")
    parser.add_argument("--certificate-identity", metavar="ID", help="keyless: the exact signer identity")
    parser.add_argument("--certificate-identity-regexp", metavar="RE",
                        help="keyless: a regular expression for the signer identity (unanchored, as cosign)")
    parser.add_argument("--certificate-oidc-issuer", metavar="URL", help="keyless: the exact OIDC issuer")
    parser.add_argument("--certificate-oidc-issuer-regexp", metavar="RE",
                        help="keyless: a regular expression for the OIDC issuer (unanchored, as cosign)")
    parser.add_argument("--trusted-root", metavar="FILE", help="keyless: the Sigstore trusted_root.json to verify "
                        "against (default: the public-good root pinned in the sigstore package); never fetched")
    add_output_options(parser)


def run(args: argparse.Namespace) -> int:
    from ..verify import make_policy, verify_tree

    policy = make_policy(key=args.key, identity=args.certificate_identity,
                         identity_regexp=args.certificate_identity_regexp, issuer=args.certificate_oidc_issuer,
                         issuer_regexp=args.certificate_oidc_issuer_regexp, trusted_root=args.trusted_root)
    tree = os.path.normpath(args.tree or os.path.join(args.root, "flux"))
    result = verify_tree(tree, policy, args.root, args.bundle)
    code = report(result.findings, args.fmt, args.strict)
    if not result.findings:
        out = sys.stdout if args.fmt == "text" else sys.stderr
        print(f"Verified {tree}: {result.files} files match {result.bundle_path}, signed by {result.signer}",
              file=out)
    return code
