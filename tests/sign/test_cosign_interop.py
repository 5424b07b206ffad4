"""The real cosign v3 accepts what `rollouts sign --key` writes (signing.md 3.4: verify-blob-attestation with
--insecure-ignore-tlog, the key-based offline path) and rejects tampering."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from rollouts.sign import PREDICATE_TYPE, sign_tree

from .conftest import files_under


def cosign_verify(cosign: str, pub: str, bundle: str, artifact: Path,
                  predicate_type: str = PREDICATE_TYPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([cosign, "verify-blob-attestation", "--key", pub, "--bundle", bundle,
                           "--insecure-ignore-tlog", "--type", predicate_type, str(artifact)],
                          capture_output=True, text=True, check=False, timeout=120)


def test_cosign_verifies_our_bundle(tool: Callable[[str], str], small_tree: Path, key_pair: tuple[str, str],
                                    other_key_pair: tuple[str, str]) -> None:
    cosign = tool("cosign")
    bundle = sign_tree(str(small_tree), str(small_tree.parent), key_path=key_pair[0]).bundle_path
    for path in files_under(small_tree):
        out = cosign_verify(cosign, key_pair[1], bundle, path)
        assert out.returncode == 0, f"{path}: {out.stderr}"
        assert "Verified OK" in out.stderr
    target = files_under(small_tree)[0]
    wrong_key = cosign_verify(cosign, other_key_pair[1], bundle, target)
    assert wrong_key.returncode != 0
    wrong_type = cosign_verify(cosign, key_pair[1], bundle, target, "https://slsa.dev/provenance/v1")
    assert wrong_type.returncode != 0
    target.write_text(target.read_text() + "# changed\n")
    changed = cosign_verify(cosign, key_pair[1], bundle, target)
    assert changed.returncode != 0
    assert "digest" in changed.stderr
