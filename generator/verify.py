"""Verify a signed tree offline: the bundle's signature (a public key, or a pinned trusted root plus an identity
policy), then the statement (type, tree) and every digest: nothing added, missing or changed.

Every problem is a :class:`~generator.findings.Finding`; rule ids:

``bundle-missing``, ``bundle-invalid``
    no bundle, or not a Sigstore bundle.
``bundle-mode``
    a keyless bundle checked with ``--key``, or a key bundle checked against an identity policy.
``key-mismatch``
    the bundle's ``publicKey.hint`` names another key.
``signature-invalid``
    the envelope or its signature was changed, or the signature was made by another key.
``identity-mismatch``
    the certificate's identity or OIDC issuer does not match the policy.
``untrusted-instance``
    the certificate or timestamps do not chain to the trusted root (a bundle from another Sigstore instance).
``statement-invalid``, ``predicate-type``, ``tree-mismatch``
    the signed payload is not this tool's render statement for this tree.
``file-added``, ``file-missing``, ``file-changed``, ``file-unexpected``
    the tree differs from what was signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from typing import TYPE_CHECKING, Any, NamedTuple

from . import sigstore_api
from .certificates import certificate_identity, identities_of, issuer_of
from .errors import RolloutsError
from .findings import Finding, error
from .keys import load_public_key, public_key_hint
from .sign import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    default_bundle_path,
    digest_tree,
    pae,
    tree_name,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
    from cryptography.x509 import Certificate

BUNDLE_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
)
KEYLESS_HINT = ("Verify a keyless bundle with --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp], "
                "or a key bundle with --key.")


class Policy(NamedTuple):
    """Who may have signed: a public key, or a certificate identity and OIDC issuer (exact or regex, as cosign)."""

    public_key: EllipticCurvePublicKey | None = None
    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None
    issuer_regexp: str | None = None
    trusted_root: str | None = None  # a trusted_root.json; default: sigstore-python's offline production root

    def describe(self) -> str:
        if self.public_key is not None:
            return f"key {public_key_hint(self.public_key)}"
        who = self.identity or f"~{self.identity_regexp}"
        issuer = self.issuer or f"~{self.issuer_regexp}"
        return f"identity {who} (issuer {issuer})"


def make_policy(*, key: str | None = None, identity: str | None = None, identity_regexp: str | None = None,
                issuer: str | None = None, issuer_regexp: str | None = None,
                trusted_root: str | None = None) -> Policy:
    """Check the flag combination the way cosign does; bad combinations are RolloutsErrors."""
    keyless = any(v is not None for v in (identity, identity_regexp, issuer, issuer_regexp))
    if key and keyless:
        raise RolloutsError("--key cannot be combined with --certificate-identity/--certificate-oidc-issuer")
    if key:
        return Policy(public_key=load_public_key(key))
    if not keyless:
        raise RolloutsError("nothing to verify against", KEYLESS_HINT)
    if (identity is None) == (identity_regexp is None):
        raise RolloutsError("exactly one of --certificate-identity and --certificate-identity-regexp is required",
                            KEYLESS_HINT)
    if (issuer is None) == (issuer_regexp is None):
        raise RolloutsError("exactly one of --certificate-oidc-issuer and --certificate-oidc-issuer-regexp is "
                            "required", KEYLESS_HINT)
    for flag, pattern in (("--certificate-identity-regexp", identity_regexp),
                          ("--certificate-oidc-issuer-regexp", issuer_regexp)):
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as e:
                raise RolloutsError(f"{flag} {pattern!r} is not a valid regular expression: {e}") from None
    if trusted_root and not os.path.isfile(trusted_root):
        raise RolloutsError(f"the trusted root {trusted_root} does not exist")
    return Policy(identity=identity, identity_regexp=identity_regexp, issuer=issuer, issuer_regexp=issuer_regexp,
                  trusted_root=trusted_root)


def _identity_problem(policy: Policy, cert: Certificate) -> str | None:
    """Why ``cert`` is not the signer ``policy`` names (SAN and OIDC issuer, each exact or a regular expression:
    re.search, as cosign's Go regexp.MatchString; anchor with ^...$ for a full match), or None."""
    p = policy
    issuer = issuer_of(cert)
    if p.issuer is not None and issuer != p.issuer:
        return f"the certificate's OIDC issuer is {issuer!r}, expected {p.issuer!r}"
    if p.issuer_regexp is not None and (issuer is None or not re.search(p.issuer_regexp, issuer)):
        return f"the certificate's OIDC issuer {issuer!r} does not match {p.issuer_regexp!r}"
    sans = identities_of(cert)
    if p.identity is not None and p.identity not in sans:
        return f"the certificate's identity is {', '.join(sans) or '(none)'}, expected {p.identity}"
    if p.identity_regexp is not None and not any(re.search(p.identity_regexp, s) for s in sans):
        return f"the certificate's identity {', '.join(sans) or '(none)'} does not match {p.identity_regexp!r}"
    return None


def bundle_signer(path: str) -> tuple[str, str | None]:
    """(identity, issuer) from a keyless bundle file, unverified: to build a policy for re-checking our own output."""
    with open(path, "rb") as fh:
        return certificate_identity(sigstore_api.bundle_certificate(fh.read()))


# --- the signature layer ------------------------------------------------------------------------------------------

def _b64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("expected a base64 string")
    return base64.b64decode(value, validate=True)


def _verify_keyed(doc: dict[str, Any], key: EllipticCurvePublicKey, where: str,
                  artifact: bytes | None) -> tuple[list[Finding], bytes | None]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    material = doc.get("verificationMaterial") or {}
    if "publicKey" not in material:
        return [error("bundle-mode", where, 0, 0, "the bundle was signed keyless (it carries a certificate), "
                      "not with a key", KEYLESS_HINT)], None
    hint = (material.get("publicKey") or {}).get("hint")
    if hint and hint != public_key_hint(key):
        return [error("key-mismatch", where, 0, 0, f"the bundle was signed with another key (hint {hint}, "
                      f"this key is {public_key_hint(key)})",
                      "Pass the public key that matches the signing key.")], None
    ecdsa = ec.ECDSA(hashes.SHA256())
    try:
        if "dsseEnvelope" in doc:
            env = doc["dsseEnvelope"]
            payload, payload_type = _b64(env["payload"]), env["payloadType"]
            signatures = [_b64(s["sig"]) for s in env["signatures"]]
            if not isinstance(payload_type, str) or not signatures:
                raise ValueError("no signatures")
            for sig in signatures:
                try:
                    key.verify(sig, pae(payload_type, payload), ecdsa)
                except InvalidSignature:
                    continue
                return [], payload if payload_type == PAYLOAD_TYPE else None
            return [error("signature-invalid", where, 0, 0, "the DSSE envelope's signature does not verify with "
                          "the public key: the envelope was changed or signed by another key")], None
        message = doc["messageSignature"]
        if artifact is None:
            return [error("statement-invalid", where, 0, 0, "the bundle signs a blob, not an in-toto attestation",
                          "Sign the tree with `rollouts sign`.")], None
        digest = _b64(message["messageDigest"]["digest"])
        if digest != hashlib.sha256(artifact).digest():
            return [error("signature-invalid", where, 0, 0, "the artifact's sha256 does not match the bundle's "
                          "message digest")], None
        try:
            key.verify(_b64(message["signature"]), artifact, ecdsa)
        except InvalidSignature:
            return [error("signature-invalid", where, 0, 0, "the signature does not verify with the public key")], None
        return [], None
    except (KeyError, TypeError, ValueError) as e:
        return [error("bundle-invalid", where, 0, 0, f"malformed bundle: {type(e).__name__}: {e}")], None


def _verify_keyless(text: bytes, policy: Policy, where: str, artifact: bytes | None) -> tuple[list[Finding],
                                                                                             bytes | None]:
    try:
        signed = sigstore_api.verify_keyless(text, policy.trusted_root, lambda cert: _identity_problem(policy, cert),
                                             artifact)
    except sigstore_api.KeyedBundle:
        return [error("bundle-mode", where, 0, 0, "the bundle was signed with a key, not keyless",
                      "Verify it with --key KEY.pub.")], None
    except sigstore_api.MalformedBundle as e:
        return [error("bundle-invalid", where, 0, 0, str(e))], None
    except sigstore_api.IdentityMismatch as e:
        return [error("identity-mismatch", where, 0, 0, f"signed by someone else: {e}",
                      "Check --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp].")], None
    except sigstore_api.UntrustedCertificate as e:
        return [error("untrusted-instance", where, 0, 0, "the signing certificate or its timestamps do not chain "
                      f"to the trusted root (a bundle from another Sigstore instance?): {e}",
                      "Pass the matching --trusted-root for a private or staging Sigstore.")], None
    except sigstore_api.UntrustedInstance as e:
        return [error("untrusted-instance", where, 0, 0, f"the bundle does not verify: {e}")], None
    except sigstore_api.SignatureInvalid as e:
        return [error("signature-invalid", where, 0, 0, f"the bundle does not verify: {e}")], None
    if signed is None:
        return [], None
    payload_type, payload = signed
    return [], payload if payload_type == PAYLOAD_TYPE else None


def verify_bundle(text: bytes, policy: Policy, where: str, artifact: bytes | None = None) -> tuple[list[Finding],
                                                                                                 bytes | None]:
    """Check a bundle's signature against ``policy``: ([], in-toto payload) when it verifies (the payload is None
    when ``artifact`` is given, or when the envelope is not in-toto), else findings."""
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        return [error("bundle-invalid", where, 0, 0, f"not a JSON Sigstore bundle: {e}")], None
    if doc.get("mediaType") not in BUNDLE_MEDIA_TYPES:
        return [error("bundle-invalid", where, 0, 0, f"unknown bundle media type {doc.get('mediaType')!r}")], None
    if policy.public_key is not None:
        findings, payload = _verify_keyed(doc, policy.public_key, where, artifact)
    else:
        if "publicKey" in (doc.get("verificationMaterial") or {}):
            return [error("bundle-mode", where, 0, 0, "the bundle was signed with a key, not keyless",
                          "Verify it with --key KEY.pub.")], None
        findings, payload = _verify_keyless(text, policy, where, artifact)
    if not findings and artifact is None and payload is None:
        findings = [error("statement-invalid", where, 0, 0, f"the envelope's payload is not {PAYLOAD_TYPE}")]
    return findings, payload


# --- the statement and the tree -----------------------------------------------------------------------------------

class VerifyResult(NamedTuple):
    findings: list[Finding]
    bundle_path: str
    files: int
    bytes: int
    signer: str
    statement: dict[str, Any] | None


def _check_statement(payload: bytes, where: str) -> tuple[list[Finding], dict[str, Any] | None]:
    try:
        statement = json.loads(payload)
        if not isinstance(statement, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        return [error("statement-invalid", where, 0, 0, f"the signed payload is not JSON: {e}")], None
    if statement.get("_type") != STATEMENT_TYPE:
        return [error("statement-invalid", where, 0, 0, f"the signed payload is not an in-toto Statement v1 "
                      f"(_type {statement.get('_type')!r})")], None
    if statement.get("predicateType") != PREDICATE_TYPE:
        return [error("predicate-type", where, 0, 0, f"the statement's predicate type is "
                      f"{statement.get('predicateType')!r}, not a rollouts render ({PREDICATE_TYPE})",
                      "This bundle attests something else; sign the tree with `rollouts sign`.")], None
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not all(
            isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("digest"), dict)
            and isinstance(s["digest"].get("sha256"), str) for s in subjects):
        return [error("statement-invalid", where, 0, 0, "the statement's subjects are malformed")], None
    return [], statement


def compare_tree(statement: dict[str, Any], tree: str, root: str, where: str,
                 digests: dict[str, str], odd: list[str]) -> list[Finding]:
    """Every signed subject against the files on disk: added, missing, changed."""
    name = tree_name(tree, root)
    signed_tree = (statement.get("predicate") or {}).get("tree")
    if signed_tree != name:
        return [error("tree-mismatch", where, 0, 0, f"the bundle signs the tree {signed_tree!r}, this is {name!r}",
                      "Run verify from the repository root the tree was signed in (--root), or pass the tree "
                      "that was signed.")]
    signed = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    actual = {f"{name}/{rel}": digest for rel, digest in digests.items()}
    findings: list[Finding] = []
    for path in sorted(signed.keys() | actual.keys()):
        if path not in actual:
            findings.append(error("file-missing", path, 0, 0, "signed file is missing from the tree",
                                  "Restore it, or re-render and re-sign."))
        elif path not in signed:
            findings.append(error("file-added", path, 0, 0, "file is not in the signed statement",
                                  "Remove it, or re-render and re-sign."))
        elif signed[path] != actual[path]:
            findings.append(error("file-changed", path, 0, 0, f"sha256 {actual[path][:16]}… differs from the signed "
                                  f"{signed[path][:16]}…", "The file was changed after signing; re-render and "
                                  "re-sign, or restore it."))
    findings += [error("file-unexpected", f"{name}/{rel}", 0, 0, "not a regular file (symlink or special file)",
                       "Remove it: the signed tree holds regular files only.") for rel in odd]
    return findings


def verify_tree(tree: str, policy: Policy, root: str = ".", bundle_path: str | None = None) -> VerifyResult:
    """Verify ``tree`` against its bundle (default: beside it) offline."""
    root = os.path.abspath(root)
    bundle_path = bundle_path or default_bundle_path(tree)
    where = os.path.relpath(bundle_path, root).replace(os.sep, "/")
    if where.startswith(".."):
        where = bundle_path
    try:
        with open(bundle_path, "rb") as fh:
            text = fh.read(64 << 20)
    except FileNotFoundError:
        return VerifyResult([error("bundle-missing", where, 0, 0, "no bundle: the tree was not signed",
                                   "Sign it with `rollouts sign`.")], bundle_path, 0, 0, "", None)
    except OSError as e:
        raise RolloutsError(f"cannot read {bundle_path}: {e.strerror}") from None
    findings, payload = verify_bundle(text, policy, where)
    if findings or payload is None:
        return VerifyResult(findings, bundle_path, 0, 0, "", None)
    findings, statement = _check_statement(payload, where)
    if statement is None:
        return VerifyResult(findings, bundle_path, 0, 0, "", None)
    digests, odd, total = digest_tree(tree)
    findings = compare_tree(statement, tree, root, where, digests, odd)
    return VerifyResult(findings, bundle_path, len(digests), total, policy.describe(), statement)
