"""The evidence chain: signed with keys made by `rollouts keys generate`'s code, verified, tampered with, and written
by a process that is SIGKILLed at random moments."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from rollouts.controller.decision import Call, HookType, Input, Verdict
from rollouts.controller.evidence import (
    GENESIS,
    PAYLOAD_TYPE,
    EvidenceError,
    EvidenceLog,
    Signer,
    VerifyResult,
    pae,
    record_name,
    verify_dir,
)
from rollouts.keys import load_public_key, write_key_pair

PASSWORD = b"evidence test password"
SPEC_DIGEST = "sha256:" + hashlib.sha256(b"the spec").hexdigest()
SECRET_TOKEN = "Bearer s3cr3t-probe-token-value"
HMAC_KEY = "hmac-key-material-0123456789"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    pair: tuple[str, str] = write_key_pair(str(tmp_path_factory.mktemp("keys") / "evidence"), PASSWORD)
    return pair


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    pair: tuple[str, str] = write_key_pair(str(tmp_path_factory.mktemp("keys") / "other"), PASSWORD)
    return pair


@pytest.fixture(scope="module")
def signer(keys: tuple[str, str]) -> Signer:
    return Signer.from_file(keys[0], PASSWORD)


def make_call(minute: int = 0, hook: HookType = "confirm-rollout") -> Call:
    return Call(hook=hook, namespace="shop", name="checkout", phase="Progressing",
                checksum="6d8f7c9b5", metadata={}, service={"service": "checkout", "specDigest": SPEC_DIGEST},
                environment="production",
                now=datetime.datetime(2026, 12, 3, 10, minute, tzinfo=datetime.UTC))


def judge_verdict(allow: bool = True) -> Verdict:
    inputs = (Input("success-rate", query='sum(rate(response_total{deployment="checkout"}[5m]))', window="5m",
                    value=99.2, threshold=">= 99", samples=1200, passed=allow),)
    if allow:
        return Verdict.ok("judge", "score 92 (pass)", inputs, score=92)
    return Verdict.deny("judge", "score 41 < 60: success-rate worse on the canary", inputs, score=41)


def write_chain(directory: Path, signer: Signer, count: int, replica: str = "r1", start: int = 0) -> Path:
    log = EvidenceLog(str(directory), signer, replica=replica)
    try:
        for i in range(start, start + count):
            allow = i % 3 != 2
            log.record(make_call(i), "allow" if allow else "deny", [Verdict.ok("change-window"), judge_verdict(allow)],
                       decider={})
    finally:
        log.close()
    return directory / replica


def messages(result: VerifyResult) -> list[str]:
    return [f"{Path(f.file).name}: {f.rule}: {f.message}" for f in result.findings]


def test_round_trip_records_every_field(tmp_path: Path, signer: Signer, keys: tuple[str, str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLOUTS_IMAGE_DIGEST", "sha256:" + "ab" * 32)
    log = EvidenceLog(str(tmp_path), signer, replica="controller-0")
    first = log.record(make_call(0), "allow", [Verdict.ok("change-window")], decider={})
    second = log.record(make_call(1, "rollout"), "deny", [Verdict.ok("probes"), judge_verdict(False)],
                        decider={"version": "9.9.9"})
    log.close()
    chain = tmp_path / "controller-0"
    assert sorted(p.name for p in chain.iterdir() if not p.name.startswith(".")) == [record_name(1), record_name(2)]
    data = (chain / record_name(2)).read_bytes()
    assert second == "sha256:" + hashlib.sha256(data).hexdigest()
    env = json.loads(data)
    assert env["payloadType"] == PAYLOAD_TYPE
    payload = base64.b64decode(env["payload"])
    # the signature is over DSSE's PAE, checked here with the public key alone
    load_public_key(keys[1]).verify(base64.b64decode(env["signatures"][0]["sig"]), pae(PAYLOAD_TYPE, payload),
                                    ec.ECDSA(hashes.SHA256()))
    doc = json.loads(payload)
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["subject"] == [{"name": "shop/checkout@6d8f7c9b5", "digest": {"sha256": SPEC_DIGEST[7:]}}]
    p = doc["predicate"]
    assert p["previous"] == first and p["sequence"] == 2 and p["replica"] == "controller-0"
    assert (p["service"], p["environment"], p["canary"], p["checksum"]) == (
        "checkout", "production", {"namespace": "shop", "name": "checkout"}, "6d8f7c9b5")
    assert (p["decision"], p["hook"], p["phase"], p["time"]) == ("deny", "rollout", "Progressing",
                                                                 "2026-12-03T10:01:00Z")
    assert p["decider"]["version"] == "9.9.9" and p["decider"]["imageDigest"] == "sha256:" + "ab" * 32
    assert p["specDigest"] == SPEC_DIGEST and p["failedChecks"] == ["judge"]
    assert p["reason"] == "score 41 < 60: success-rate worse on the canary"
    assert p["inputs"] == [{"check": "judge", "name": "success-rate",
                            "query": 'sum(rate(response_total{deployment="checkout"}[5m]))', "window": "5m",
                            "value": 99.2, "threshold": ">= 99", "samples": 1200, "passed": False, "detail": ""}]
    first_doc = json.loads(base64.b64decode(json.loads((chain / record_name(1)).read_bytes())["payload"]))
    assert first_doc["predicate"]["previous"] == GENESIS

    result = verify_dir(str(tmp_path), load_public_key(keys[1]))
    assert result.ok, messages(result)
    assert [(d.sequence, d.hook, d.decision) for d in result.decisions] == [(1, "confirm-rollout", "allow"),
                                                                           (2, "rollout", "deny")]


def test_resume_continues_the_chain_and_removes_a_leftover_temp_file(tmp_path: Path, signer: Signer,
                                                                     keys: tuple[str, str]) -> None:
    chain = write_chain(tmp_path, signer, 3)
    leftover = chain / f".{record_name(4)}.tmp-4242"
    leftover.write_bytes(b'{"payload": "half')
    chain_after = write_chain(tmp_path, signer, 2, start=3)
    assert not leftover.exists()
    assert chain_after == chain and len(list(chain.glob("*.dsse.json"))) == 5
    result = verify_dir(str(tmp_path), load_public_key(keys[1]))
    assert result.ok, messages(result)
    assert [d.sequence for d in result.decisions] == [1, 2, 3, 4, 5]


def test_concurrent_decisions_make_one_linear_chain(tmp_path: Path, signer: Signer, keys: tuple[str, str]) -> None:
    log = EvidenceLog(str(tmp_path), signer, replica="r1")

    async def burst() -> list[str]:
        done: list[str] = await asyncio.gather(*(log.record_async(make_call(i % 60), "allow", [Verdict.ok("hold")],
                                                                  decider={}) for i in range(50)))
        return done

    digests = asyncio.run(burst())
    log.close()
    result = verify_dir(str(tmp_path), load_public_key(keys[1]))
    assert result.ok, messages(result)
    assert sorted(d.sequence for d in result.decisions) == list(range(1, 51))
    assert sorted(digests) == sorted(d.digest for d in result.decisions)


def test_a_broken_last_record_stops_the_chain_with_its_name(tmp_path: Path, signer: Signer) -> None:
    chain = write_chain(tmp_path, signer, 2)
    (chain / record_name(2)).write_text("{}")
    with pytest.raises(EvidenceError, match=f"cannot resume the evidence chain: {chain / record_name(2)}: "
                       "payloadType is None"):
        EvidenceLog(str(tmp_path), signer, replica="r1")
    (chain / record_name(2)).unlink()  # moved away: the chain resumes (and verify reports the gap it leaves)
    EvidenceLog(str(tmp_path), signer, replica="r1").close()


def test_a_second_writer_on_the_same_chain_is_refused(tmp_path: Path, signer: Signer) -> None:
    log = EvidenceLog(str(tmp_path), signer, replica="r1")
    try:
        with pytest.raises(EvidenceError, match="another process writes the evidence chain"):
            EvidenceLog(str(tmp_path), signer, replica="r1")
        EvidenceLog(str(tmp_path), signer, replica="r2").close()  # another replica: its own chain
    finally:
        log.close()


def test_replicas_each_verify_as_their_own_chain(tmp_path: Path, signer: Signer, keys: tuple[str, str]) -> None:
    write_chain(tmp_path, signer, 3, "controller-a")
    write_chain(tmp_path, signer, 2, "controller-b")
    result = verify_dir(str(tmp_path), load_public_key(keys[1]))
    assert result.ok and result.chains == 2
    assert len(result.decisions) == 5
    assert [d.time for d in result.decisions] == sorted(d.time for d in result.decisions)


def _reencode(path: Path, change: object) -> None:
    env = json.loads(path.read_bytes())
    doc = json.loads(base64.b64decode(env["payload"]))
    change(doc)  # type: ignore[operator]
    env["payload"] = base64.b64encode(json.dumps(doc).encode()).decode()
    path.write_text(json.dumps(env))


def test_tampering_is_found_and_names_the_file(tmp_path: Path, signer: Signer, keys: tuple[str, str],
                                               other_keys: tuple[str, str]) -> None:
    pub = load_public_key(keys[1])
    base = write_chain(tmp_path / "base", signer, 5)

    def copy(name: str) -> Path:
        shutil.copytree(base, tmp_path / name / "r1")
        return tmp_path / name / "r1"

    removed = copy("removed")
    (removed / record_name(3)).unlink()
    assert messages(verify_dir(str(removed.parent), pub)) == [
        f"{record_name(4)}: evidence-sequence: sequence 4 follows 2: record 3 missing (removed?)"]

    swapped = copy("swapped")
    (swapped / record_name(2)).rename(swapped / "x")
    (swapped / record_name(3)).rename(swapped / record_name(2))
    (swapped / "x").rename(swapped / record_name(3))
    found = messages(verify_dir(str(swapped.parent), pub))
    assert f"{record_name(2)}: evidence-sequence: the record says sequence 3 but its file is number 2 " \
           "(renamed or reordered)" in found
    assert f"{record_name(3)}: evidence-sequence: the record says sequence 2 but its file is number 3 " \
           "(renamed or reordered)" in found

    altered = copy("altered")
    data = bytearray((altered / record_name(3)).read_bytes())
    env = json.loads(data)
    payload = bytearray(base64.b64decode(env["payload"]))
    at = payload.index(b'"deny"')  # record 3 is a denial: make it say allow
    payload[at:at + 6] = b'"allo"'
    env["payload"] = base64.b64encode(bytes(payload)).decode()
    (altered / record_name(3)).write_text(json.dumps(env))
    found = messages(verify_dir(str(altered.parent), pub))
    assert found[0] == (f"{record_name(3)}: evidence-signature: the signature does not verify with the given public "
                        "key (altered, or signed by another key)")
    assert found[1].startswith(f"{record_name(4)}: evidence-chain: previous is sha256:")

    resigned = copy("resigned")  # a foreign record: same content, consistent chain fields, another key
    foreign = EvidenceLog(str(tmp_path / "foreign"), Signer.from_file(other_keys[0], PASSWORD), replica="r1")
    foreign.record(make_call(), "allow", [Verdict.ok("hold")], decider={})
    foreign.close()
    shutil.copy(tmp_path / "foreign" / "r1" / record_name(1), resigned / record_name(1))
    found = messages(verify_dir(str(resigned.parent), pub))
    assert found[0] == (f"{record_name(1)}: evidence-signature: the signature does not verify with the given public "
                        "key (altered, or signed by another key)")
    assert found[1].startswith(f"{record_name(2)}: evidence-chain:")
    # the rotated key verifies when both are given
    both = verify_dir(str(tmp_path / "foreign"), [pub, load_public_key(other_keys[1])])
    assert both.ok, messages(both)

    garbage = copy("garbage")
    (garbage / record_name(5)).write_text("not json")
    assert messages(verify_dir(str(garbage.parent), pub))[0].startswith(
        f"{record_name(5)}: evidence-format: not a DSSE envelope")

    untouched = verify_dir(str(base.parent), pub)
    assert untouched.ok and len(untouched.decisions) == 5


def test_no_secret_value_reaches_a_record(tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD.decode())
    secrets = tmp_path / "secrets"
    for secret, key, value in (("probe-creds", "token", SECRET_TOKEN + "\n"), ("chatops-hmac", "key", HMAC_KEY)):
        (secrets / secret).mkdir(parents=True)
        (secrets / secret / key).write_text(value)
    log = EvidenceLog(str(tmp_path / "evidence"), signer, replica="r1", secrets_dir=str(secrets))
    leaky = Verdict.deny("probes", f"step cart: 401 with Authorization {SECRET_TOKEN} ({PASSWORD.decode()})",
                         (Input("cart", query=f"POST /api/v1/cart key={HMAC_KEY}", detail=SECRET_TOKEN,
                                passed=False),))
    log.record(make_call(), "deny", [leaky], decider={})
    log.close()
    data = (tmp_path / "evidence" / "r1" / record_name(1)).read_bytes()
    payload = base64.b64decode(json.loads(data)["payload"])
    for text in (data, payload):
        assert SECRET_TOKEN.encode() not in text and HMAC_KEY.encode() not in text and PASSWORD not in text
        assert b"s3cr3t" not in text
    assert b"[redacted]" in payload and b"step cart: 401 with Authorization" in payload


WRITER = """
import datetime, sys
from rollouts.controller.decision import Call, Verdict
from rollouts.controller.evidence import EvidenceLog, Signer
log = EvidenceLog(sys.argv[1], Signer.from_file(sys.argv[2], sys.argv[3].encode()), replica="r1")
print("ready", flush=True)
while True:
    call = Call("rollout", "shop", "checkout", "Progressing", "c1", {}, {"service": "checkout"}, "production",
                datetime.datetime.now(datetime.UTC))
    sequence = log.sequence + 1
    log.record(call, "allow", [Verdict.ok("probes")], decider={})
    print(sequence, flush=True)
"""


def test_sigkill_at_random_moments_never_breaks_or_shrinks_the_chain(tmp_path: Path, keys: tuple[str, str]) -> None:
    rng = random.Random(9)
    pub = load_public_key(keys[1])
    chain, count = tmp_path / "r1", 0
    for _ in range(5):
        with subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), keys[0], PASSWORD.decode()],
                              stdout=subprocess.PIPE, text=True) as child:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            acknowledged = [int(child.stdout.readline())]  # it writes: now kill it somewhere in the loop
            time.sleep(rng.uniform(0.0, 0.15))
            os.kill(child.pid, signal.SIGKILL)
            acknowledged += [int(line) for line in child.stdout.read().split()]
        assert child.returncode == -signal.SIGKILL
        for sequence in acknowledged:  # every acknowledged record is there
            assert (chain / record_name(sequence)).exists()
        result = verify_dir(str(tmp_path), pub)
        assert result.ok, messages(result)
        assert len(result.decisions) >= max(count, acknowledged[-1])
        count = len(result.decisions)


def test_command_lists_decisions_and_exits_1_on_a_problem(tmp_path: Path, signer: Signer,
                                                          keys: tuple[str, str]) -> None:
    from rollouts.commands.evidence import command

    chain = write_chain(tmp_path, signer, 3)
    runner = CliRunner()
    ok = runner.invoke(command, ["verify", str(tmp_path), "--key", keys[1], "-f", "text"], standalone_mode=False)
    assert ok.exception is None and ok.return_value == 0
    lines = ok.stdout.splitlines()
    assert lines[0] == "2026-12-03T10:00:00Z\tproduction\tcheckout\tconfirm-rollout\tallow\tpassed; score 92 (pass)"
    assert lines[2] == ("2026-12-03T10:02:00Z\tproduction\tcheckout\tconfirm-rollout\tdeny\t"
                        "score 41 < 60: success-rate worse on the canary")
    assert lines[3] == f"Verified 3 records in 1 chain(s) under {tmp_path}"

    (chain / record_name(2)).unlink()
    bad = runner.invoke(command, ["verify", str(tmp_path), "--key", keys[1], "-f", "text"], standalone_mode=False)
    assert bad.return_value == 1
    assert f"{chain / record_name(3)}" in bad.stdout and "record 2 missing" in bad.stdout


def test_user_errors_are_one_line_messages_without_a_traceback(tmp_path: Path, keys: tuple[str, str],
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from rollouts import cli

    monkeypatch.setitem(cli.COMMANDS, "evidence", "Verify evidence.")  # until the lead registers the command
    assert cli.run(["evidence", "verify", str(tmp_path / "absent"), "--key", keys[1]]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'absent'} is not a directory") and "Traceback" not in err

    not_a_key = tmp_path / "not.pub"
    not_a_key.write_text("hello")
    assert cli.run(["evidence", "verify", str(tmp_path), "--key", str(not_a_key)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {not_a_key} is not a PEM public key")

    assert cli.run(["evidence", "verify", str(tmp_path), "--key", keys[1], "-f", "text"]) == 1
    assert f"no evidence records in {tmp_path}" in capsys.readouterr().out
