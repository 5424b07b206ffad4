"""The signature layer against real Sigstore bundles (shared/sigstore-vectors), offline: each positive case
verifies, each negative case fails with the Finding a user would need."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from rollouts.keys import load_public_key
from rollouts.verify import Policy, make_policy, verify_bundle, verify_tree

from .conftest import BEACON, GHA

GHA_WHEEL_ID = "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"


@pytest.fixture(scope="module")
def vectors(shared: Path) -> Path:
    return shared / "sigstore-vectors"


def rules(vectors: Path, bundle: str, policy: Policy, artifact: str | None) -> list[str]:
    data = (vectors / artifact).read_bytes() if artifact else None
    findings, _ = verify_bundle((vectors / bundle).read_bytes(), policy, "bundle", data)
    return [f.rule for f in findings]


POSITIVE = [
    ("gha-wheel", "keyless/gha-wheel/bundle_v3_github.whl.sigstore", GHA_WHEEL_ID, None,
     "keyless/gha-wheel/bundle_v3_github.whl"),
    ("happy-path-v0.3", "keyless/conformance-happy-path-v0.3/bundle.sigstore.json", BEACON, None,
     "keyless/conformance-happy-path-v0.3/a.txt"),
    ("rekor2-tsa-staging", "keyless/conformance-rekor2-tsa-staging/bundle.sigstore.json", BEACON,
     "keyless/conformance-rekor2-tsa-staging/trusted_root.json", "keyless/conformance-rekor2-tsa-staging/a.txt"),
]


@pytest.mark.parametrize(("bundle", "identity", "root", "artifact"), [p[1:] for p in POSITIVE],
                         ids=[p[0] for p in POSITIVE])
def test_real_keyless_bundles_verify(vectors: Path, bundle: str, identity: str, root: str | None,
                                     artifact: str) -> None:
    policy = Policy(identity=identity, issuer=GHA, trusted_root=str(vectors / root) if root else None)
    assert rules(vectors, bundle, policy, artifact) == []


def test_dsse_intoto_verifies_and_returns_statement(vectors: Path) -> None:
    findings, payload = verify_bundle((vectors / "keyless/conformance-dsse-intoto/bundle.sigstore.json").read_bytes(),
                                      Policy(identity=BEACON, issuer=GHA), "bundle")
    assert findings == []
    assert payload is not None
    statement = json.loads(payload)
    import hashlib

    a_txt = (vectors / "keyless/conformance-dsse-intoto/a.txt").read_bytes()
    assert statement["subject"][0]["digest"]["sha256"] == hashlib.sha256(a_txt).hexdigest()


def test_regexp_policies(vectors: Path) -> None:
    bundle = "keyless/conformance-dsse-intoto/bundle.sigstore.json"
    good = Policy(identity_regexp=r"^https://github\.com/sigstore-conformance/", issuer_regexp=r"^https://token\.")
    assert rules(vectors, bundle, good, None) == []
    bad = Policy(identity_regexp=r"^https://github\.com/acme/", issuer_regexp=r"^https://token\.")
    assert rules(vectors, bundle, bad, None) == ["identity-mismatch"]
    bad_issuer = Policy(identity_regexp="beacon", issuer_regexp="accounts.google.com")
    assert rules(vectors, bundle, bad_issuer, None) == ["identity-mismatch"]


NEGATIVE = [
    ("wrong-identity", "keyless/conformance-happy-path-v0.3/bundle.sigstore.json",
     Policy(identity="https://github.com/evil/repo/.github/workflows/x.yml@refs/heads/main", issuer=GHA),
     "keyless/conformance-happy-path-v0.3/a.txt", "identity-mismatch"),
    ("wrong-issuer", "keyless/conformance-happy-path-v0.3/bundle.sigstore.json",
     Policy(identity=BEACON, issuer="https://accounts.google.com"), "keyless/conformance-happy-path-v0.3/a.txt",
     "identity-mismatch"),
    ("tampered-artifact", "negative/wrong-material/bundle.sigstore.json", Policy(identity=BEACON, issuer=GHA),
     "negative/wrong-material/artifact", "signature-invalid"),
    ("bad-signature", "negative/signature-mismatch/bundle.sigstore.json", Policy(identity=BEACON, issuer=GHA),
     "keyless/conformance-happy-path-v0.3/a.txt", "signature-invalid"),
    ("wrong-instance", "negative/wrong-instance/bundle.sigstore.json", Policy(identity=BEACON, issuer=GHA),
     "keyless/conformance-happy-path-v0.3/a.txt", "untrusted-instance"),
    ("key-bundle-checked-keyless", "keyed/conformance-managed-key/bundle.sigstore.json",
     Policy(identity=BEACON, issuer=GHA), "keyed/conformance-managed-key/a.txt", "bundle-mode"),
]


@pytest.mark.parametrize(("bundle", "policy", "artifact", "rule"), [n[1:] for n in NEGATIVE],
                         ids=[n[0] for n in NEGATIVE])
def test_real_negative_cases_fail(vectors: Path, bundle: str, policy: Policy, artifact: str, rule: str) -> None:
    assert rules(vectors, bundle, policy, artifact) == [rule]


def test_wrong_root_for_production_bundle(vectors: Path) -> None:
    staging = str(vectors / "keyless/conformance-rekor2-tsa-staging/trusted_root.json")
    policy = Policy(identity=BEACON, issuer=GHA, trusted_root=staging)
    assert rules(vectors, "keyless/conformance-happy-path-v0.3/bundle.sigstore.json", policy,
                 "keyless/conformance-happy-path-v0.3/a.txt") == ["untrusted-instance"]


def test_managed_key_bundle(vectors: Path, other_key_pair: tuple[str, str]) -> None:
    folder = "keyed/conformance-managed-key"
    key = Policy(public_key=load_public_key(str(vectors / folder / "key.pub")))
    assert rules(vectors, f"{folder}/bundle.sigstore.json", key, f"{folder}/a.txt") == []
    assert rules(vectors, f"{folder}/bundle.sigstore.json", key, "negative/wrong-material/artifact") == [
        "signature-invalid"]
    other = Policy(public_key=load_public_key(other_key_pair[1]))
    assert rules(vectors, f"{folder}/bundle.sigstore.json", other, f"{folder}/a.txt") == ["key-mismatch"]
    # a keyless bundle checked with a key
    assert rules(vectors, "keyless/conformance-happy-path-v0.3/bundle.sigstore.json", key,
                 "keyless/conformance-happy-path-v0.3/a.txt") == ["bundle-mode"]


def test_malformed_public_key_is_a_clear_error(vectors: Path) -> None:
    from rollouts.errors import RolloutsError

    with pytest.raises(RolloutsError, match="not a PEM public key"):
        make_policy(key=str(vectors / "keyed/conformance-managed-key/wrong-key.pub"))


def test_tree_level_real_dsse_bundle(vectors: Path, tmp_path: Path) -> None:
    """A real, valid keyless DSSE bundle over a.txt is still not a render statement: verify says so, and a staging
    root or another identity fail before that."""
    tree = tmp_path / "flux"
    tree.mkdir()
    shutil.copy(vectors / "keyless/conformance-dsse-intoto/a.txt", tree / "a.txt")
    bundle = str(vectors / "keyless/conformance-dsse-intoto/bundle.sigstore.json")
    ok = verify_tree(str(tree), Policy(identity=BEACON, issuer=GHA), str(tmp_path), bundle)
    assert [f.rule for f in ok.findings] == ["predicate-type"]
    staging = str(vectors / "keyless/conformance-rekor2-tsa-staging/trusted_root.json")
    other = verify_tree(str(tree), Policy(identity=BEACON, issuer=GHA, trusted_root=staging), str(tmp_path), bundle)
    assert [f.rule for f in other.findings] == ["untrusted-instance"]
    who = verify_tree(str(tree), Policy(identity="someone@example.com", issuer=GHA), str(tmp_path), bundle)
    assert [f.rule for f in who.findings] == ["identity-mismatch"]


def test_cli_default_trusted_root_is_offline_and_quiet(vectors: Path, tmp_path: Path, run_cli: Any) -> None:
    """Without --trusted-root, verify uses sigstore-python's offline production root: a real production bundle
    verifies, nothing is fetched, and sigstore's "offline mode" log warning does not reach the user."""
    tree = tmp_path / "flux"
    tree.mkdir()
    shutil.copy(vectors / "keyless/conformance-dsse-intoto/a.txt", tree / "a.txt")
    bundle = str(vectors / "keyless/conformance-dsse-intoto/bundle.sigstore.json")
    env = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}  # any fetch would fail
    out = run_cli("verify", str(tree), "--root", str(tmp_path), "--bundle", bundle, "--certificate-identity", BEACON,
                  "--certificate-oidc-issuer", GHA, cwd=tmp_path, env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "predicate-type" in out.stdout + out.stderr  # the signature verified; the statement is not a render
    assert "offline mode" not in out.stderr
    assert "TUF" not in out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    cache = Path(os.environ["XDG_CACHE_HOME"])
    assert list(cache.glob("sigstore-python/tuf/*/trusted_root.json"))  # sigstore's cache, here a test directory


def test_bundle_signer(vectors: Path) -> None:
    """Who signed a keyless bundle, unverified (commit re-checks its own bundle against that identity)."""
    from rollouts.verify import bundle_signer

    assert bundle_signer(str(vectors / "keyless/conformance-happy-path-v0.3/bundle.sigstore.json")) == (BEACON, GHA)
    assert bundle_signer(str(vectors / "keyless/gha-wheel/bundle_v3_github.whl.sigstore")) == (GHA_WHEEL_ID, GHA)
