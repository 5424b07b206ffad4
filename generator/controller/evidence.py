"""Signed evidence: every decision of the controller as an in-toto Statement in a DSSE envelope, hash-chained.

Why: a rollout's gates are only worth what their record is. Each decision (allow or deny, with every input it
rests on) becomes one file ``<dir>/<replica>/<sequence>.dsse.json``: a DSSE envelope (payloadType
``application/vnd.in-toto+json``, signature over the PAE of secure-systems-lab/dsse) holding an in-toto Statement v1
whose predicate carries the decision and ``previous``, the sha256 of the previous record's file bytes. A record
removed, reordered, altered or signed by another key breaks a signature, the sequence or the chain, and
:func:`verify_dir` names the file.

Durability: a record is written to a temp file in the same directory, fsynced, renamed into place and the directory
fsynced before :meth:`EvidenceLog.record` returns, so a SIGKILL at any moment leaves either the whole record or none
(and never loses one that was acknowledged). One writer per chain: a thread lock inside the process and an
``flock`` on ``<chain>/.lock`` across processes; each replica writes its own chain (its own subdirectory).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import re
import socket
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey, EllipticCurvePublicKey

from .. import __version__
from ..errors import RolloutsError
from ..findings import Finding, error
from ..keys import load_private_key, password_from_env, public_key_hint
from .decision import Call, Verdict

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://rollouts.dev/analysis-decision/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
GENESIS = "sha256:" + "0" * 64  # the ``previous`` of a chain's first record
IMAGE_DIGEST_ENV = "ROLLOUTS_IMAGE_DIGEST"
REPLICA_ENV = "ROLLOUTS_REPLICA"
SUFFIX = ".dsse.json"
RECORD_NAME = re.compile(r"^([0-9]{12})\.dsse\.json$")
REPLICA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
LOCK_NAME = ".lock"
TEMP_MARK = ".tmp-"
REDACTED = "[redacted]"


class EvidenceError(RolloutsError):
    """The evidence sink cannot be used (unreadable key, a chain it cannot resume, a second writer)."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding, what is signed: "DSSEv1" SP len(type) SP type SP len(body) SP body."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _ecdsa() -> ec.ECDSA:
    # deterministic (RFC 6979): the same record signs to the same bytes, as the tree signatures of rollouts sign
    return ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


class Signer:
    """An ECDSA P-256 key (the cosign format of ``rollouts keys generate``) that signs DSSE envelopes."""

    def __init__(self, key: EllipticCurvePrivateKey) -> None:
        self._key = key
        self.keyid = public_key_hint(key.public_key())

    @classmethod
    def from_file(cls, path: str, password: bytes | None = None) -> Signer:
        """Load the mounted key; the password defaults to COSIGN_PASSWORD (as ``rollouts sign``)."""
        return cls(load_private_key(path, password))

    def public_key(self) -> EllipticCurvePublicKey:
        return self._key.public_key()

    def sign(self, payload_type: str, payload: bytes) -> bytes:
        return self._key.sign(pae(payload_type, payload), _ecdsa())

    def __repr__(self) -> str:  # never the key itself
        return f"Signer(keyid={self.keyid!r})"


def default_replica() -> str:
    """This replica's chain name: $ROLLOUTS_REPLICA, else the host name (the pod's name in Kubernetes)."""
    return os.environ.get(REPLICA_ENV) or socket.gethostname() or "default"


def canonical(doc: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: one byte string per document, so digests and signatures are reproducible."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def rfc3339(moment: Any) -> str:
    """RFC 3339 in UTC with ``Z`` (microseconds when present): the time of the call (a naive one is taken as UTC),
    or now when the call has none."""
    when: datetime.datetime = moment if isinstance(moment, datetime.datetime) else datetime.datetime.now(datetime.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------------- secrets


def secret_values(secrets_dir: str | None) -> tuple[str, ...]:
    """Every value of the mounted Secrets (``<dir>/<secret>/<key>``) and the signing key's password
    (COSIGN_PASSWORD), longest first, so a record can be scrubbed of any that a check let slip into a reason or a
    detail. Values under 4 characters are not scrubbed (they would blank ordinary words); they are read, never
    logged."""
    password = password_from_env()
    found: set[str] = {password.decode(errors="replace")} if password and len(password) >= 4 else set()
    if not secrets_dir or not os.path.isdir(secrets_dir):
        return tuple(found)
    for root, _dirs, files in os.walk(secrets_dir, followlinks=False):
        for name in files:
            if name.startswith(".."):  # the kubelet's ..data timestamp links: the same values again
                continue
            try:
                with open(os.path.join(root, name), "rb") as fh:
                    text = fh.read(1 << 16).decode("utf-8", errors="replace")
            except OSError:
                continue
            for value in (text, text.strip()):
                if len(value) >= 4:
                    found.add(value)
    return tuple(sorted(found, key=lambda v: (-len(v), v)))


def scrub(doc: Any, secrets: Sequence[str]) -> Any:
    """``doc`` with every occurrence of a secret value in any string replaced by ``[redacted]``."""
    if not secrets:
        return doc
    if isinstance(doc, str):
        for value in secrets:
            if value in doc:
                doc = doc.replace(value, REDACTED)
        return doc
    if isinstance(doc, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in doc.items()}
    if isinstance(doc, list | tuple):
        return [scrub(v, secrets) for v in doc]
    return doc


# ---------------------------------------------------------------------------------------------------- statement


def _json_safe(value: Any) -> Any:
    """The judge's extras (scores, classes) as JSON; anything else (a NaN among them) as its text."""
    try:
        return json.loads(json.dumps(value, default=str, allow_nan=False))
    except ValueError:
        return str(value)


def _number(value: float | None) -> float | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None  # NaN and infinities are not JSON: recorded as no value
    return value


def inputs_of(verdicts: Iterable[Verdict]) -> list[dict[str, Any]]:
    return [{"check": v.check, "name": i.name, "query": i.query, "window": i.window, "value": _number(i.value),
             "threshold": i.threshold, "samples": i.samples, "passed": i.passed, "detail": i.detail}
            for v in verdicts for i in v.inputs]


def statement(call: Call, decision: str, verdicts: Sequence[Verdict], *, decider: dict[str, str], sequence: int,
              previous: str, replica: str) -> dict[str, Any]:
    """The in-toto Statement of one decision. Subject: ``<namespace>/<name>@<checksum>`` with the spec's digest
    (the revision of the policy that decided), or the sha256 of that name when the config has no spec digest."""
    spec_digest = str(call.service.get("specDigest") or "")
    algorithm, _, hexdigest = spec_digest.partition(":")
    subject_name = f"{call.key}@{call.checksum}"
    if algorithm != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", hexdigest):
        hexdigest = hashlib.sha256(subject_name.encode()).hexdigest()
    denials = [v for v in verdicts if not v.allow]
    reason = denials[0].reason if denials else "; ".join(v.reason for v in verdicts if v.reason) or "passed"
    predicate = {
        "service": str(call.service.get("service") or call.name),
        "environment": call.environment,
        "canary": {"namespace": call.namespace, "name": call.name},
        "checksum": call.checksum,
        "decision": decision,
        "hook": call.hook,
        "phase": call.phase,
        "time": rfc3339(call.now),
        "decider": {"id": "rollouts-analysis-controller", "version": __version__,
                    "imageDigest": os.environ.get(IMAGE_DIGEST_ENV, ""), **decider},
        "specDigest": spec_digest,
        "checks": [{"check": v.check, "allow": v.allow, "reason": v.reason, "extra": _json_safe(v.extra)}
                   for v in verdicts],
        "inputs": inputs_of(verdicts),
        "failedChecks": [v.check for v in denials],
        "reason": reason,
        "previous": previous,
        "sequence": sequence,
        "replica": replica,
    }
    return {"_type": STATEMENT_TYPE, "subject": [{"name": subject_name, "digest": {"sha256": hexdigest}}],
            "predicateType": PREDICATE_TYPE, "predicate": predicate}


def envelope(payload: bytes, signer: Signer) -> bytes:
    """The DSSE JSON envelope's file bytes (canonical JSON and a newline); ``previous`` is the digest of these."""
    sig = base64.b64encode(signer.sign(PAYLOAD_TYPE, payload)).decode()
    doc = {"payload": base64.b64encode(payload).decode(), "payloadType": PAYLOAD_TYPE,
           "signatures": [{"keyid": signer.keyid, "sig": sig}]}
    return canonical(doc) + b"\n"


# ---------------------------------------------------------------------------------------------------- the sink


def record_name(sequence: int) -> str:
    return f"{sequence:012d}{SUFFIX}"


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(directory: str, name: str, data: bytes) -> None:
    """Write ``data`` to ``directory/name`` so that it is either wholly there or absent, even across SIGKILL or a
    power cut: a temp file in the same directory, fsync, rename, fsync of the directory."""
    temp = os.path.join(directory, f".{name}{TEMP_MARK}{os.getpid()}-{threading.get_ident()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, os.path.join(directory, name))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)  # a full disk leaves no temp file behind
        raise
    _fsync_dir(directory)


def chain_files(directory: str) -> list[tuple[int, str]]:
    """The records of one chain, ``(sequence, file name)`` in sequence order."""
    found = []
    for name in os.listdir(directory):
        match = RECORD_NAME.match(name)
        if match:
            found.append((int(match.group(1)), name))
    return sorted(found)


class EvidenceLog:
    """One replica's chain of signed decisions under ``<directory>/<replica>``.

    Opening it takes the chain's lock (a second process on the same chain is an error, not a fork of the chain),
    removes a temp file a killed writer left and resumes after the last record. :meth:`record` is synchronous and
    blocks for two fsyncs: from async code use :meth:`record_async` (a worker thread; the thread lock keeps the
    chain linear). A record that cannot be written raises (OSError): the caller must not answer 200 for it."""

    def __init__(self, directory: str, signer: Signer, *, replica: str | None = None,
                 secrets_dir: str | None = None) -> None:
        replica = replica or default_replica()
        if not REPLICA_NAME.match(replica) or replica in (".", ".."):
            raise EvidenceError(f"replica id {replica!r} is not a safe directory name",
                                f"Set {REPLICA_ENV} to letters, digits, '.', '_' or '-'.")
        self.replica = replica
        self.directory = os.path.join(directory, replica)
        self.signer = signer
        self._secrets = secret_values(secrets_dir)
        self._thread_lock = threading.Lock()
        try:
            os.makedirs(self.directory, exist_ok=True)
            self._lock_fd = self._take_lock()
        except OSError as e:
            raise EvidenceError(f"cannot open the evidence directory {self.directory}: {e.strerror}") from None
        try:
            self._remove_temp_files()
            self.sequence, self.head = self._resume()
        except BaseException:
            self.close()  # the lock is not kept by a log that did not open
            raise

    def _take_lock(self) -> int:
        fd = os.open(os.path.join(self.directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EvidenceError(f"another process writes the evidence chain {self.directory}",
                                f"Give every replica its own id ({REPLICA_ENV}, default: the host name).") from None
        return fd

    def _remove_temp_files(self) -> None:
        for name in os.listdir(self.directory):
            if TEMP_MARK in name and name.startswith("."):
                os.unlink(os.path.join(self.directory, name))

    def _resume(self) -> tuple[int, str]:
        """(last sequence, digest of the last record), or (0, GENESIS) for a new chain. The last record must be
        well formed and carry its own sequence: otherwise the chain is not extended (fail closed) and the error names
        the file."""
        files = chain_files(self.directory)
        if not files:
            return 0, GENESIS
        sequence, name = files[-1]
        path = os.path.join(self.directory, name)
        with open(path, "rb") as fh:
            data = fh.read()
        problem = _parse(data)
        if isinstance(problem, str):
            raise EvidenceError(f"cannot resume the evidence chain: {path}: {problem}",
                                "Run `rollouts evidence verify` on the directory and move the broken record away.")
        if problem.sequence != sequence:
            raise EvidenceError(f"cannot resume the evidence chain: {path} says sequence {problem.sequence}",
                                "Run `rollouts evidence verify` on the directory.")
        return sequence, digest(data)

    def record(self, call: Call, decision: str, verdicts: Sequence[Verdict], *, decider: dict[str, str]) -> str:
        """Append one decision; return the record's digest (``sha256:<hex>`` of its file bytes) once it is durable."""
        with self._thread_lock:
            sequence = self.sequence + 1
            doc = statement(call, decision, list(verdicts), decider=decider, sequence=sequence, previous=self.head,
                            replica=self.replica)
            data = envelope(canonical(scrub(doc, self._secrets)), self.signer)
            write_durably(self.directory, record_name(sequence), data)
            self.sequence, self.head = sequence, digest(data)
            return self.head

    async def record_async(self, call: Call, decision: str, verdicts: Sequence[Verdict], *,
                           decider: dict[str, str]) -> str:
        """:meth:`record` from async code: the fsyncs run in a worker thread, not on the event loop."""
        return await asyncio.to_thread(self.record, call, decision, verdicts, decider=decider)

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1


# ---------------------------------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Decision:
    """One verified record, as ``rollouts evidence verify`` prints it."""

    file: str
    replica: str
    sequence: int
    time: str
    environment: str
    service: str
    hook: str
    decision: str
    reason: str
    digest: str


@dataclass
class VerifyResult:
    """Every record that verified, and every problem found (a Finding naming the file)."""

    directory: str
    chains: int = 0
    decisions: list[Decision] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings and bool(self.decisions)


@dataclass(frozen=True)
class _Parsed:
    payload: bytes
    sigs: list[bytes]
    predicate: dict[str, Any]
    sequence: int


def _parse(data: bytes) -> _Parsed | str:
    """The envelope and its Statement, or what is wrong with them (one line)."""
    try:
        env = json.loads(data)
        if not isinstance(env, dict):
            return "not a DSSE envelope (not a JSON object)"
        if env.get("payloadType") != PAYLOAD_TYPE:
            return f"payloadType is {env.get('payloadType')!r}, not {PAYLOAD_TYPE}"
        payload = base64.b64decode(env["payload"], validate=True)
        sigs = [base64.b64decode(s["sig"], validate=True) for s in env["signatures"]]
        doc = json.loads(payload)
    except (ValueError, KeyError, TypeError) as e:
        return f"not a DSSE envelope: {type(e).__name__}: {e}"
    if not isinstance(doc, dict) or doc.get("_type") != STATEMENT_TYPE:
        return f"the payload is not an in-toto Statement v1 (_type {STATEMENT_TYPE})"
    if doc.get("predicateType") != PREDICATE_TYPE:
        return f"predicateType is {doc.get('predicateType')!r}, not {PREDICATE_TYPE}"
    predicate = doc.get("predicate")
    if not isinstance(predicate, dict) or not isinstance(predicate.get("sequence"), int):
        return "the predicate has no sequence number"
    return _Parsed(payload, sigs, predicate, predicate["sequence"])


def _signed_by(parsed: _Parsed, keys: Sequence[EllipticCurvePublicKey]) -> bool:
    message = pae(PAYLOAD_TYPE, parsed.payload)
    for key in keys:
        for sig in parsed.sigs:
            try:
                key.verify(sig, message, _ecdsa())
            except InvalidSignature:
                continue
            return True
    return False


def chains_in(directory: str) -> list[str]:
    """The chain directories: ``directory`` itself when it holds records, and each subdirectory that does."""
    found = [directory] if chain_files(directory) else []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not name.startswith(".") and chain_files(path):
            found.append(path)
    return found


def verify_dir(directory: str, public_key: EllipticCurvePublicKey | Sequence[EllipticCurvePublicKey]
               ) -> VerifyResult:
    """Check every record of every chain under ``directory``: the signature (with any of the keys: a rotated key
    verifies with old and new), the sequence (1, 2, 3 ... with no gap), and the hash chain (each ``previous`` is the
    digest of the record before). Raises EvidenceError when the directory cannot be read."""
    keys = [public_key] if not isinstance(public_key, Sequence) else list(public_key)
    result = VerifyResult(directory)
    try:
        chains = chains_in(directory)
    except OSError as e:
        raise EvidenceError(f"cannot read the evidence directory {directory}: {e.strerror}") from None
    if not chains:
        result.findings.append(error("evidence-empty", directory, 0, 0, f"no evidence records in {directory}",
                                     f"Records are named <sequence>{SUFFIX}, one directory per replica."))
    for chain in chains:
        result.chains += 1
        _verify_chain(chain, keys, result)
    result.decisions.sort(key=lambda d: (d.time, d.replica, d.sequence))
    return result


def _verify_chain(chain: str, keys: Sequence[EllipticCurvePublicKey], result: VerifyResult) -> None:
    previous, expected = GENESIS, 1
    replica = os.path.basename(os.path.normpath(chain))
    for sequence, name in chain_files(chain):
        path = os.path.join(chain, name)
        gap = sequence != expected
        if gap:
            missing = f"record {expected}" if sequence == expected + 1 else f"records {expected}-{sequence - 1}"
            result.findings.append(error("evidence-sequence", path, 0, 0, f"sequence {sequence} follows "
                                         f"{expected - 1}: {missing} missing (removed?)"))
        with open(path, "rb") as fh:
            data = fh.read()
        parsed = _parse(data)
        if isinstance(parsed, str):
            result.findings.append(error("evidence-format", path, 0, 0, parsed))
        elif not _signed_by(parsed, keys):
            result.findings.append(error("evidence-signature", path, 0, 0, "the signature does not verify with the "
                                         "given public key (altered, or signed by another key)"))
        else:
            _check_links(path, sequence, None if gap else previous, parsed, result)
            result.decisions.append(_decision(path, replica, parsed, digest(data)))
        previous, expected = digest(data), sequence + 1


def _check_links(path: str, sequence: int, previous: str | None, parsed: _Parsed, result: VerifyResult) -> None:
    """The record's own sequence and its link to the record before (``previous`` None: after a gap, already told)."""
    if parsed.sequence != sequence:
        result.findings.append(error("evidence-sequence", path, 0, 0, f"the record says sequence {parsed.sequence} "
                                     f"but its file is number {sequence} (renamed or reordered)"))
    if previous is not None and parsed.predicate.get("previous") != previous:
        what = "the first record of a chain must have previous " + GENESIS if previous == GENESIS else (
            f"the record before it has digest {previous}")
        result.findings.append(error("evidence-chain", path, 0, 0, f"previous is {parsed.predicate.get('previous')}"
                                     f" but {what} (a record before it was removed, reordered or altered)"))


def _decision(path: str, replica: str, parsed: _Parsed, record_digest: str) -> Decision:
    p = parsed.predicate
    return Decision(path, replica, parsed.sequence, str(p.get("time", "")), str(p.get("environment", "")),
                    str(p.get("service", "")), str(p.get("hook", "")), str(p.get("decision", "")),
                    str(p.get("reason", "")), record_digest)
