"""cosign-format keys: our files against cosign's own vectors and the real cosign binary."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from rollouts.errors import RolloutsError
from rollouts.keys import decrypt_private_key, encrypt_private_key, generate, load_private_key, public_pem

from .conftest import PASSWORD


def test_round_trip_and_file_modes(key_pair: tuple[str, str]) -> None:
    key_path, pub_path = key_pair
    key = load_private_key(key_path, PASSWORD.encode())
    assert public_pem(key.public_key()) == Path(pub_path).read_bytes()
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    text = Path(key_path).read_text()
    assert text.startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert "PRIVATE KEY" in text and "BEGIN PRIVATE KEY" not in text


def test_wrong_password_is_a_clear_error(key_pair: tuple[str, str]) -> None:
    with pytest.raises(RolloutsError, match="wrong password"):
        load_private_key(key_pair[0], b"not the password")


@pytest.mark.parametrize("password", [b"", b"hello", "pässwörd".encode()], ids=["empty", "ascii", "utf8"])
def test_any_password_round_trips(password: bytes) -> None:
    key = generate()
    pem = encrypt_private_key(key, password, n=32768)
    assert decrypt_private_key(pem, password).private_numbers() == key.private_numbers()


def test_reads_kubectl_sigstore_test_key(shared: Path) -> None:
    folder = shared / "sigstore-vectors/keyed/k8s-manifest-sigstore"
    key = decrypt_private_key((folder / "testkey.cosign.key").read_bytes(), b"")
    assert public_pem(key.public_key()) .split() == (folder / "testpub.pem").read_bytes().split()


def test_reads_cosign_pkcs8_key_and_rejects_wrong_password(shared: Path) -> None:
    pem = (shared / "sigstore-vectors/keyed/cosign-keys/sigstore-pkcs8-N32768.password-hello.key").read_bytes()
    assert decrypt_private_key(pem, b"hello").curve.name == "secp256r1"
    with pytest.raises(RolloutsError, match="wrong password"):
        decrypt_private_key(pem, b"hell0")


def test_rejects_sec1_key_as_cosign_does(shared: Path) -> None:
    pem = (shared / "sigstore-vectors/keyed/cosign-keys/cosign-sec1-N65536.password-hello.key").read_bytes()
    with pytest.raises(RolloutsError, match="SEC1"):
        decrypt_private_key(pem, b"hello")


def test_not_a_key_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.key"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(RolloutsError, match="not a cosign private key"):
        load_private_key(str(bad), b"")


def test_cli_generate_default_prefix_refuses_overwrite(run_cli: Callable[..., subprocess.CompletedProcess[str]],
                                                       tmp_path: Path) -> None:
    env = {"COSIGN_PASSWORD": PASSWORD}
    first = run_cli("keys", "generate", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "cosign.key").exists() and (tmp_path / "cosign.pub").exists()
    before = (tmp_path / "cosign.key").read_bytes()
    second = run_cli("keys", "generate", cwd=tmp_path, env=env)
    assert second.returncode == 1
    assert "already exists; refusing to overwrite" in second.stderr
    assert "Traceback" not in second.stderr
    assert (tmp_path / "cosign.key").read_bytes() == before
    cosign_spelling = run_cli("keys", "generate", "--output-key-prefix", "other", cwd=tmp_path, env=env)
    assert cosign_spelling.returncode == 0 and (tmp_path / "other.pub").exists()
    assert PASSWORD not in first.stdout + first.stderr + second.stdout + second.stderr


def test_cli_generate_without_password_env(run_cli: Callable[..., subprocess.CompletedProcess[str]],
                                           tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COSIGN_PASSWORD"}
    out = subprocess.run([str(Path(__file__).parents[2] / ".venv/bin/rollouts"), "keys", "generate",
                          "--output-prefix", "x"], cwd=tmp_path, env=env, text=True, capture_output=True,
                         stdin=subprocess.DEVNULL, check=False)
    assert out.returncode == 1
    assert "COSIGN_PASSWORD is not set" in out.stderr
    assert not (tmp_path / "x.key").exists()


def test_cosign_reads_our_private_key(tool: Callable[[str], str], key_pair: tuple[str, str]) -> None:
    """The real cosign decrypts our key file and derives the same public key."""
    out = subprocess.run([tool("cosign"), "public-key", "--key", key_pair[0]], capture_output=True, text=True,
                         env={**os.environ, "COSIGN_PASSWORD": PASSWORD}, check=False, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == Path(key_pair[1]).read_text().split()


def test_we_read_cosign_generated_key(tool: Callable[[str], str], tmp_path: Path) -> None:
    out = subprocess.run([tool("cosign"), "generate-key-pair", "--output-key-prefix", "made-by-cosign"],
                         cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "COSIGN_PASSWORD": PASSWORD}, check=False, timeout=60)
    assert out.returncode == 0, out.stderr
    key = load_private_key(str(tmp_path / "made-by-cosign.key"), PASSWORD.encode())
    assert public_pem(key.public_key()) == (tmp_path / "made-by-cosign.pub").read_bytes()


def test_scrypt_matches_hashlib() -> None:
    """The key derivation (libsodium when available) gives exactly hashlib's (OpenSSL's) bytes."""
    import hashlib

    from rollouts.keys import _scrypt

    salt = bytes(range(32))
    for password in (b"", b"hello"):
        assert _scrypt(password, salt, 32768, 8, 1) == hashlib.scrypt(password, salt=salt, n=32768, r=8, p=1,
                                                                       dklen=32, maxmem=256 << 20)
