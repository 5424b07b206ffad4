"""cosign-format ECDSA P-256 key pairs: generate, encrypt, load.

The private key is what ``cosign generate-key-pair`` writes: a PEM block ``ENCRYPTED SIGSTORE PRIVATE KEY`` whose
body is base64 of the JSON ``{"kdf": {"name": "scrypt", "params": {"N", "r", "p"}, "salt"}, "cipher":
{"name": "nacl/secretbox", "nonce"}, "ciphertext"}``; the secretbox holds the PKCS#8 DER key, sealed with
``scrypt(password, salt, N, r, p, 32)``. The public key is a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo).
The password comes from ``COSIGN_PASSWORD`` (an empty password is allowed, as in cosign).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import TYPE_CHECKING

from .errors import RolloutsError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey, EllipticCurvePublicKey

PASSWORD_ENV = "COSIGN_PASSWORD"
PRIVATE_PEM_TYPES = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
SCRYPT_PARAMS = {(32768, 8, 1), (65536, 8, 1), (131072, 8, 1)}
DEFAULT_SCRYPT_N = 65536


def generate() -> EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def password_from_env(env: dict[str, str] | None = None) -> bytes | None:
    """The key password from COSIGN_PASSWORD, or None when it is not set (an empty value is a valid password)."""
    value = (os.environ if env is None else env).get(PASSWORD_ENV)
    return None if value is None else value.encode()


def public_pem(key: EllipticCurvePublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_hint(key: EllipticCurvePublicKey) -> str:
    """The Sigstore bundle ``publicKey.hint``: base64 of sha256 over the SubjectPublicKeyInfo DER (as cosign)."""
    from cryptography.hazmat.primitives import serialization

    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    """scrypt(password, salt, N, r, p) -> 32 bytes: libsodium's (PyNaCl; about 40% faster than OpenSSL's, the same
    bytes) when it was built with scrypt, else hashlib's."""
    import nacl.bindings

    if getattr(nacl.bindings, "has_crypto_pwhash_scryptsalsa208sha256", False):
        key: bytes = nacl.bindings.crypto_pwhash_scryptsalsa208sha256_ll(password, salt, n, r, p, 32, 256 << 20)
        return key
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=32, maxmem=256 << 20)


def encrypt_private_key(key: EllipticCurvePrivateKey, password: bytes, n: int = DEFAULT_SCRYPT_N) -> bytes:
    """The PEM text of an ``ENCRYPTED SIGSTORE PRIVATE KEY``, field for field what cosign writes."""
    import nacl.secret
    import nacl.utils
    from cryptography.hazmat.primitives import serialization

    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    salt, nonce = os.urandom(32), nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(_scrypt(password, salt, n, 8, 1))
    ciphertext = box.encrypt(der, nonce).ciphertext
    doc = {"kdf": {"name": "scrypt", "params": {"N": n, "r": 8, "p": 1}, "salt": base64.b64encode(salt).decode()},
           "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
           "ciphertext": base64.b64encode(ciphertext).decode()}
    body = base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    kind = PRIVATE_PEM_TYPES[0]
    return ("\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"]) + "\n").encode()


def _pem_body(pem: bytes, source: str) -> bytes:
    text = pem.decode("ascii", errors="replace")
    for kind in PRIVATE_PEM_TYPES:
        begin, end = f"-----BEGIN {kind}-----", f"-----END {kind}-----"
        if begin in text and end in text:
            inner = text.split(begin, 1)[1].split(end, 1)[0]
            return base64.b64decode("".join(inner.split()))
    raise RolloutsError(f"{source} is not a cosign private key (no ENCRYPTED SIGSTORE PRIVATE KEY block)",
                        "Generate one with `rollouts keys generate` or `cosign generate-key-pair`.")


def _is_pkcs8(der: bytes) -> bool:
    """PKCS#8 PrivateKeyInfo is SEQUENCE { INTEGER, SEQUENCE algorithm, ... }; SEC1 has an OCTET STRING second."""
    if len(der) < 8 or der[0] != 0x30:
        return False
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    if der[i] != 0x02:
        return False
    i += 2 + der[i + 1]
    return i < len(der) and der[i] == 0x30


def decrypt_private_key(pem: bytes, password: bytes, source: str = "the key") -> EllipticCurvePrivateKey:
    """Load a cosign encrypted private key; wrong passwords, other formats and non-P-256 keys are RolloutsErrors."""
    import nacl.exceptions
    import nacl.secret
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        doc = json.loads(_pem_body(pem, source))
        kdf, params = doc["kdf"], doc["kdf"]["params"]
        shape = (int(params["N"]), int(params["r"]), int(params["p"]))
        if kdf["name"] != "scrypt" or doc["cipher"]["name"] != "nacl/secretbox" or shape not in SCRYPT_PARAMS:
            raise RolloutsError(f"{source}: unsupported key encryption {kdf['name']} {shape} "
                                f"{doc['cipher']['name']}", "cosign keys use scrypt and nacl/secretbox.")
        salt = base64.b64decode(kdf["salt"])
        nonce = base64.b64decode(doc["cipher"]["nonce"])
        ciphertext = base64.b64decode(doc["ciphertext"])
    except (ValueError, KeyError, TypeError) as e:
        raise RolloutsError(f"{source} is not a valid cosign private key: {e}") from None
    try:
        der = nacl.secret.SecretBox(_scrypt(password, salt, *shape)).decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise RolloutsError(f"cannot decrypt {source}: wrong password",
                            f"Set {PASSWORD_ENV} to the password the key was generated with.") from None
    if not _is_pkcs8(der):
        raise RolloutsError(f"{source} holds a SEC1 key, not PKCS#8; cosign refuses it too",
                            "Regenerate the key with `rollouts keys generate` or `cosign generate-key-pair`.")
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise RolloutsError(f"{source} is not an ECDSA P-256 key", "rollouts signs with ECDSA P-256 keys only.")
    return key


def load_private_key(path: str, password: bytes | None = None) -> EllipticCurvePrivateKey:
    """Read and decrypt ``path``; the password defaults to COSIGN_PASSWORD."""
    if password is None:
        password = password_from_env()
    if password is None:
        raise RolloutsError(f"{PASSWORD_ENV} is not set; it holds the password of {path}",
                            f"export {PASSWORD_ENV}=... (an empty value means no password).")
    try:
        with open(path, "rb") as fh:
            pem = fh.read(1 << 20)
    except OSError as e:
        raise RolloutsError(f"cannot read the private key {path}: {e.strerror}") from None
    return decrypt_private_key(pem, password, path)


def load_public_key(path: str) -> EllipticCurvePublicKey:
    """A PEM public key file (cosign.pub); anything else is a RolloutsError."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        with open(path, "rb") as fh:
            pem = fh.read(1 << 20)
    except OSError as e:
        raise RolloutsError(f"cannot read the public key {path}: {e.strerror}") from None
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise RolloutsError(f"{path} is not a PEM public key",
                            "Pass the .pub file written by `rollouts keys generate` or cosign.") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise RolloutsError(f"{path} is not an ECDSA P-256 public key")
    return key


def write_key_pair(prefix: str, password: bytes, force: bool = False) -> tuple[str, str]:
    """Write ``prefix.key`` (0600) and ``prefix.pub``; refuse to overwrite either unless ``force``."""
    key_path, pub_path = prefix + ".key", prefix + ".pub"
    if not force:
        for path in (key_path, pub_path):
            if os.path.lexists(path):
                raise RolloutsError(f"{path} already exists; refusing to overwrite it",
                                    "Choose another --output-prefix or move the old key pair away.")
    key = generate()
    private = encrypt_private_key(key, password)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(key_path, flags, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(private)
        fd = os.open(pub_path, flags, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(public_pem(key.public_key()))
    except FileExistsError as e:
        raise RolloutsError(f"{e.filename} already exists; refusing to overwrite it") from None
    except OSError as e:
        raise RolloutsError(f"cannot write the key pair: {e.strerror}: {e.filename}") from None
    return key_path, pub_path
