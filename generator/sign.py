"""Sign a rendered tree: one in-toto Statement over every file's sha256, in a DSSE envelope, as a Sigstore bundle.

The bundle lives *beside* the tree, never inside it: ``flux/`` is signed into ``flux.sigstore.json``, so the signed
set is exactly the files under the tree (``verify`` reports anything added, missing or changed) and Flux applies
nothing that the statement does not list. Subject names are POSIX paths relative to the repository root
(``flux/apps/production/checkout/canary.yaml``), the predicate (type :data:`PREDICATE_TYPE`) records the tool
version, the tree, the sha256 of every spec and the source commit. Two signers:

* a cosign-format ECDSA P-256 key (``--key``): a v0.3 bundle with ``publicKey.hint`` and no transparency-log entry,
  exactly what ``cosign attest-blob --key`` would write offline, verifiable by ``cosign verify-blob-attestation``;
* keyless (an ambient OIDC identity, e.g. GitHub Actions with ``id-token: write``): sigstore-python's
  ``Signer.sign_dsse`` (through :mod:`.sigstore_api`, the only module that imports sigstore), a Fulcio certificate
  and a Rekor entry; this needs the network, and failures are :class:`~generator.errors.RolloutsError`, never a
  traceback.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import TYPE_CHECKING, Any, NamedTuple

from . import __version__, git
from .certificates import certificate_identity
from .errors import RolloutsError
from .keys import load_private_key, password_from_env, public_key_hint
from .sigstore_api import ambient_identity_token, sign_dsse_keyless

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

PREDICATE_TYPE = "https://rollouts.dev/attestation/render/v1"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_SUFFIX = ".sigstore.json"


class SignResult(NamedTuple):
    bundle_path: str
    mode: str  # "key" or "keyless"
    files: int
    bytes: int
    identity: str  # keyless: the certificate identity; key: the public key hint
    statement: dict[str, Any]


# --- the tree ----------------------------------------------------------------------------------------------------

def default_bundle_path(tree: str) -> str:
    """``flux/`` -> ``flux.sigstore.json`` beside it."""
    path = os.path.normpath(tree)
    if os.path.basename(path) in ("", ".", ".."):
        path = os.path.abspath(path)
    return path + BUNDLE_SUFFIX


def tree_name(tree: str, root: str) -> str:
    """The tree as subject names start: its path relative to the repository root, or its own name outside it."""
    absolute = os.path.realpath(tree)
    rel = os.path.relpath(absolute, os.path.realpath(root))
    if rel == "." or rel.startswith(".."):
        return os.path.basename(absolute)
    return rel.replace(os.sep, "/")


def list_tree(tree: str) -> tuple[list[str], list[str]]:
    """(every regular file under ``tree`` as a POSIX path relative to it, sorted; symlinks and other odd entries)."""
    files: list[str] = []
    odd: list[str] = []
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(os.path.join(tree, rel_dir) if rel_dir else tree) as it:
            for entry in it:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                if entry.is_symlink():
                    odd.append(rel)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(rel)
                elif entry.is_file(follow_symlinks=False):
                    files.append(rel)
                else:
                    odd.append(rel)
    files.sort()
    odd.sort()
    return files, odd


def _hash_one(path: str) -> tuple[str, int]:
    with open(path, "rb", buffering=0) as fh:
        data = fh.read()
    return hashlib.sha256(data).hexdigest(), len(data)


def hash_files(base: str, rel_paths: list[str]) -> tuple[dict[str, str], int]:
    """sha256 hex of each file under ``base``. Serial on purpose: rendered files are small (about 1 kB), hashlib
    keeps the GIL below 2 kB, and a thread pool measured slower than this loop (bench/sign.py)."""
    digests: dict[str, str] = {}
    total = 0
    sha256 = hashlib.sha256
    join = os.path.join
    for rel in rel_paths:
        with open(join(base, rel), "rb", buffering=0) as fh:
            data = fh.read()
        digests[rel] = sha256(data).hexdigest()
        total += len(data)
    return digests, total


def digest_tree(tree: str) -> tuple[dict[str, str], list[str], int]:
    """({relative path: sha256}, odd entries, total bytes) for every file under ``tree``."""
    if not os.path.isdir(tree):
        raise RolloutsError(f"{tree} is not a directory", "Render first (`rollouts render`) or pass the tree to sign.")
    files, odd = list_tree(tree)
    digests, total = hash_files(tree, files)
    return digests, odd, total


# --- the statement -----------------------------------------------------------------------------------------------

def source_record(root: str) -> dict[str, Any]:
    """The source commit of ``root`` (None outside git), and the spec files that differ from it when there are any
    (a render of uncommitted edits, ``commit --allow-dirty``), so the statement never names a commit whose specs it
    does not hash."""
    record: dict[str, Any] = {"commit": git.source_commit(root)}
    if record["commit"]:
        edited = git.uncommitted(root, ["services", "rollouts.project.yaml"])
        if edited:
            record["uncommitted"] = edited
    return record


def spec_digests(root: str) -> list[dict[str, Any]]:
    """sha256 of every services/<service>/rollouts.yaml (what discover() finds), as in-toto resource descriptors."""
    services = os.path.join(root, "services")
    try:
        names = sorted(e.name for e in os.scandir(services) if not e.name.startswith("."))
    except OSError:
        return []
    out = []
    for name in names:
        path = os.path.join(services, name, "rollouts.yaml")
        if os.path.isfile(path):
            digest, _ = _hash_one(path)
            out.append({"name": f"services/{name}/rollouts.yaml", "digest": {"sha256": digest}})
    return out


def build_statement(tree: str, root: str, digests: dict[str, str], source: str | None = None) -> dict[str, Any]:
    """The render statement; ``source`` is the repository holding the specs (default: ``root``)."""
    name = tree_name(tree, root)
    source = source or root
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f"{name}/{rel}", "digest": {"sha256": digests[rel]}} for rel in sorted(digests)],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "tool": {"name": "rollouts", "version": __version__},
            "tree": name,
            "specs": spec_digests(source),
            "source": source_record(source),
        },
    }


def statement_bytes(statement: dict[str, Any]) -> bytes:
    return json.dumps(statement, separators=(",", ":"), ensure_ascii=False).encode()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


# --- signers -----------------------------------------------------------------------------------------------------

def keyed_bundle(statement: bytes, key: EllipticCurvePrivateKey) -> dict[str, Any]:
    """A v0.3 bundle: DSSE signed with ``key`` (deterministic ECDSA, RFC 6979), no tlog entry (as cosign offline)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    sig = key.sign(pae(PAYLOAD_TYPE, statement), ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": public_key_hint(key.public_key())}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(statement).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}],
        },
    }


def keyless_bundle(statement: bytes, token: str, trust_config: str | None = None) -> tuple[str, str]:
    """(bundle JSON, certificate identity) from sigstore-python; needs Fulcio and Rekor (the network)."""
    text, certificate, token_identity = sign_dsse_keyless(statement, token, trust_config)
    san, _ = certificate_identity(certificate)
    return text, san or token_identity


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise RolloutsError(f"cannot write {path}: {e.strerror}") from None


def sign_tree(tree: str, root: str = ".", *, key_path: str | None = None, identity_token: str | None = None,
              trust_config: str | None = None, bundle_path: str | None = None,
              source: str | None = None, private_key: EllipticCurvePrivateKey | None = None) -> SignResult:
    """Sign every file under ``tree`` and write the bundle (default: beside the tree). Key-based when ``key_path``
    is given, else keyless with ``identity_token`` or the ambient OIDC identity. Subject names are relative to
    ``root``; the specs and source commit come from ``source`` (default: ``root``)."""
    root = os.path.abspath(root)
    bundle_path = bundle_path or default_bundle_path(tree)
    if os.path.commonpath([os.path.abspath(bundle_path), os.path.abspath(tree)]) == os.path.abspath(tree):
        raise RolloutsError(f"the bundle {bundle_path} would be inside the signed tree {tree}",
                            "Write it beside the tree (the default: <tree>.sigstore.json).")
    pending_key = None
    if private_key is not None:  # already decrypted by the caller (rollouts commit: once for every attempt)
        pass
    elif key_path:
        from concurrent.futures import ThreadPoolExecutor

        if password_from_env() is None:
            load_private_key(key_path)  # raises the "COSIGN_PASSWORD is not set" error
        # scrypt (about 0.2 s, the GIL released) runs on the second core while the tree is hashed
        pool = ThreadPoolExecutor(max_workers=1)
        pending_key = pool.submit(load_private_key, key_path)
        pool.shutdown(wait=False)
    else:
        identity_token = identity_token or ambient_identity_token()
        if not identity_token:
            raise RolloutsError("no signing identity: no --key and no ambient OIDC identity",
                                "Pass --key cosign.key (COSIGN_PASSWORD holds its password), or run in CI with "
                                "an OIDC token (GitHub Actions: permissions: id-token: write).")
    digests, odd, total = digest_tree(tree)
    key = pending_key.result() if pending_key is not None else private_key  # a wrong password raises here
    if odd:
        raise RolloutsError(f"{tree} holds entries that are not regular files: {', '.join(odd[:5])}",
                            "Symlinks and special files cannot be signed; the renderer writes regular files only.")
    if not digests:
        raise RolloutsError(f"{tree} has no files to sign", "Render first: `rollouts render`.")
    statement = build_statement(tree, root, digests, source)
    payload = statement_bytes(statement)
    if key is not None:
        text = json.dumps(keyed_bundle(payload, key), indent=2) + "\n"
        mode, identity = "key", public_key_hint(key.public_key())
    else:
        assert identity_token is not None
        text, identity = keyless_bundle(payload, identity_token, trust_config)
        text = text.rstrip("\n") + "\n"
        mode = "keyless"
    write_atomic(bundle_path, text.encode())
    return SignResult(bundle_path, mode, len(digests), total, identity, statement)
