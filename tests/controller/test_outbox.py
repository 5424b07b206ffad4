"""The notification outbox against a real HTTP receiver that checks the HMAC and fails the first two deliveries of
every id; restarts and SIGKILL of real processes."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from rollouts.controller.decision import Call
from rollouts.controller.outbox import Backoff, Outbox

HMAC_KEY = b"outbox-hmac-key-0123456789\n"  # the exact file bytes, newline included
FAST = Backoff(base=0.01, cap=0.05)


class Receiver(ThreadingHTTPServer):
    """A downstream webhook: 401 on a bad signature, 500 to the first ``failures`` deliveries of an id, then 200.
    It dedups by id the way a receiver should, and counts what it saw."""

    daemon_threads = True
    request_queue_size = 128  # the default 5 refuses connections under 16 concurrent deliveries

    def __init__(self, failures: int = 2) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.failures = failures
        self.attempts: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()  # 200s per id
        self.bad_signatures = 0
        self.in_flight = self.max_in_flight = 0
        self.slow = 0.0  # seconds each answer takes
        self.bodies: dict[str, dict[str, object]] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = "sha256=" + hmac.new(HMAC_KEY, body, hashlib.sha256).hexdigest()
        ident = self.headers.get("X-Rollouts-Delivery", "")
        with self.server.lock:
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        time.sleep(self.server.slow)
        with self.server.lock:
            self.server.in_flight -= 1
            if not hmac.compare_digest(self.headers.get("X-Rollouts-Signature", ""), expected):
                self.server.bad_signatures += 1
                status = 401
            elif json.loads(body)["id"] != ident:
                status = 400
            else:
                self.server.attempts[ident] += 1
                status = 500 if self.server.attempts[ident] <= self.server.failures else 200
                if status == 200:
                    self.server.accepted[ident] += 1
                    self.server.bodies[ident] = json.loads(body)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    (tmp_path / "secrets" / "chatops-hmac").mkdir(parents=True)
    (tmp_path / "secrets" / "chatops-hmac" / "key").write_bytes(HMAC_KEY)
    return tmp_path / "secrets"


def target(url: str, events: list[str] | None = None) -> dict[str, object]:
    return {"name": "chatops", "url": url, "events": events or ["promote", "abort", "hold"],
            "secret": {"secret": "chatops-hmac", "key": "key"}}


def make_call(checksum: str = "c1", notifications: list[dict[str, object]] | None = None) -> Call:
    service: dict[str, object] = {"service": "checkout"}
    if notifications is not None:
        service["notifications"] = notifications
    return Call("confirm-promotion", "shop", "checkout", "WaitingPromotion", checksum, {}, service, "production",
                datetime.datetime(2026, 12, 3, 10, 0, tzinfo=datetime.UTC))


def files(outbox_dir: Path, state: str) -> list[Path]:
    return sorted(p for p in (outbox_dir / state).iterdir() if not p.name.startswith("."))


async def deliver_until_empty(outbox: Outbox, rounds: int = 200) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(rounds):
            await outbox.deliver_once(client)
            if not outbox.pending():
                return
            await asyncio.sleep(0.02)
    raise AssertionError(f"still pending after {rounds} rounds: {outbox.pending()}")


def test_delivered_once_per_id_after_two_failures_with_the_hmac(tmp_path: Path, receiver: Receiver,
                                                                secrets: Path) -> None:
    outbox = Outbox(str(tmp_path / "outbox"), [target(receiver.url)], str(secrets), backoff=FAST)
    ids = outbox.enqueue("abort", make_call(), "score 41 < 60: success-rate worse on the canary")
    assert len(ids) == 1 and len(files(tmp_path / "outbox", "pending")) == 1  # durable before delivery
    asyncio.run(deliver_until_empty(outbox))
    assert receiver.attempts == {ids[0]: 3} and receiver.accepted == {ids[0]: 1} and receiver.bad_signatures == 0
    assert receiver.bodies[ids[0]] == {
        "id": ids[0], "event": "abort", "service": "checkout", "environment": "production",
        "canary": {"namespace": "shop", "name": "checkout"}, "checksum": "c1", "hook": "confirm-promotion",
        "phase": "WaitingPromotion", "reason": "score 41 < 60: success-rate worse on the canary",
        "time": "2026-12-03T10:00:00Z"}
    [done] = files(tmp_path / "outbox", "delivered")
    doc = json.loads(done.read_text())
    assert doc["attempts"] == 2 and doc["lastError"] == "HTTP 500"
    for path in (tmp_path / "outbox").rglob("*"):  # the key is read for each attempt, never written down
        assert path.is_dir() or b"outbox-hmac-key" not in path.read_bytes()


def test_targets_filter_events_and_a_repeated_enqueue_is_one_notification(tmp_path: Path, receiver: Receiver,
                                                                          secrets: Path) -> None:
    promote_only = {**target(receiver.url, ["promote"]), "name": "ci"}
    outbox = Outbox(str(tmp_path / "outbox"), [promote_only], str(secrets), backoff=FAST)
    call = make_call(notifications=[target(receiver.url, ["hold"])])  # the service's own target
    assert outbox.enqueue("abort", call, "aborted") == []
    held = outbox.enqueue("hold", call, "held by alice")
    assert len(held) == 1 and outbox.enqueue("hold", call, "held by alice") == held
    assert len(outbox.enqueue("promote", call, "promoted")) == 1
    assert len(files(tmp_path / "outbox", "pending")) == 2
    asyncio.run(deliver_until_empty(outbox))
    assert outbox.enqueue("hold", call, "held by alice") == held  # already delivered: not queued again
    assert not outbox.pending() and set(receiver.accepted.values()) == {1} and len(receiver.accepted) == 2


def test_200_concurrent_enqueues_are_each_delivered_once(tmp_path: Path, receiver: Receiver, secrets: Path) -> None:
    receiver.slow, receiver.failures = 0.005, 0  # retries: the test above; here the concurrency
    outbox = Outbox(str(tmp_path / "outbox"), [target(receiver.url)], str(secrets), backoff=FAST, concurrency=16)
    with ThreadPoolExecutor(32) as pool:
        ids = [i for batch in pool.map(lambda n: outbox.enqueue("promote", make_call(f"c{n}"), "promoted"),
                                       range(200)) for i in batch]
    assert len(set(ids)) == 200 and len(files(tmp_path / "outbox", "pending")) == 200
    asyncio.run(deliver_until_empty(outbox))
    assert receiver.accepted == dict.fromkeys(ids, 1) and receiver.bad_signatures == 0
    assert len(files(tmp_path / "outbox", "delivered")) == 200
    assert 1 < receiver.max_in_flight <= 16  # concurrent, and bounded


def test_a_dead_receiver_ends_in_dead_with_the_last_error(tmp_path: Path, secrets: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    missing_key = {**target("http://127.0.0.1:1/x"), "name": "pager", "secret": {"secret": "absent", "key": "k"}}
    outbox = Outbox(str(tmp_path / "outbox"), [target(f"http://127.0.0.1:{port}/hook"), missing_key], str(secrets),
                    backoff=FAST, max_age=0.2)
    outbox.enqueue("abort", make_call(), "aborted")
    asyncio.run(deliver_until_empty(outbox))
    errors = sorted(json.loads(p.read_text())["lastError"] for p in files(tmp_path / "outbox", "dead"))
    assert errors == ["ConnectError: cannot reach the receiver",
                      f"cannot read the HMAC key absent/k under {secrets}"]
    assert all(json.loads(p.read_text())["attempts"] >= 1 for p in files(tmp_path / "outbox", "dead"))


def test_deliver_forever_delivers_what_is_enqueued_while_it_runs(tmp_path: Path, receiver: Receiver,
                                                                 secrets: Path) -> None:
    receiver.failures = 0
    outbox = Outbox(str(tmp_path / "outbox"), [target(receiver.url)], str(secrets), backoff=FAST)
    other = Outbox(str(tmp_path / "outbox"), [target(receiver.url)], str(secrets), backoff=FAST)

    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            task = asyncio.create_task(outbox.deliver_forever(client, poll=5.0))
            await asyncio.sleep(0.05)
            assert not other.take_delivery_lock()  # one deliverer per directory
            ids = await asyncio.to_thread(outbox.enqueue, "hold", make_call(), "held")
            for _ in range(100):  # woken by the enqueue, long before the 5 s poll
                if receiver.accepted:
                    break
                await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert receiver.accepted == {ids[0]: 1}
            assert other.take_delivery_lock()  # released on cancel
            other.release()

    asyncio.run(scenario())


ENQUEUER = """
import datetime, sys
from rollouts.controller.decision import Call
from rollouts.controller.outbox import Outbox
outbox = Outbox(sys.argv[1], [{"name": "chatops", "url": sys.argv[2], "secret": {"secret": "chatops-hmac",
                "key": "key"}}], sys.argv[3])
n = 0
while n < int(sys.argv[4]) or sys.argv[4] == "0":
    call = Call("confirm-promotion", "shop", "checkout", "WaitingPromotion", f"c{n}", {}, {"service": "checkout"},
                "production", datetime.datetime.now(datetime.UTC))
    for ident in outbox.enqueue("promote", call, "promoted"):
        print(ident, flush=True)
    n += 1
"""


def test_a_new_process_delivers_what_a_finished_one_queued(tmp_path: Path, receiver: Receiver,
                                                           secrets: Path) -> None:
    done = subprocess.run([sys.executable, "-c", ENQUEUER, str(tmp_path / "outbox"), receiver.url, str(secrets), "5"],
                          capture_output=True, text=True, check=True, timeout=60)
    ids = done.stdout.split()
    assert len(ids) == 5 and not receiver.attempts  # nothing sent by the enqueuing process
    asyncio.run(deliver_until_empty(Outbox(str(tmp_path / "outbox"), [], str(secrets), backoff=FAST)))
    assert receiver.accepted == dict.fromkeys(ids, 1)


def test_sigkill_during_enqueue_leaves_only_complete_files(tmp_path: Path, receiver: Receiver,
                                                           secrets: Path) -> None:
    receiver.failures = 0
    acknowledged: list[str] = []
    for delay in (0.05, 0.1, 0.15):
        with subprocess.Popen([sys.executable, "-c", ENQUEUER, str(tmp_path / "outbox"), receiver.url, str(secrets),
                               "0"], stdout=subprocess.PIPE, text=True) as child:
            assert child.stdout is not None
            acknowledged.append(child.stdout.readline().strip())  # it runs
            time.sleep(delay)
            os.kill(child.pid, signal.SIGKILL)
            acknowledged += child.stdout.read().split()
        assert child.returncode == -signal.SIGKILL
    pending = files(tmp_path / "outbox", "pending")
    for path in pending:  # every visible file is whole
        doc = json.loads(path.read_text())
        assert doc["id"] + ".json" == path.name and json.loads(doc["body"])["id"] == doc["id"]
    names = {p.name for p in pending}
    assert {i + ".json" for i in acknowledged} <= names  # and none that was acknowledged is lost
    leftovers = [p.name for p in (tmp_path / "outbox" / "pending").iterdir() if p.name.startswith(".")]
    assert all(".tmp-" in name for name in leftovers)
    asyncio.run(deliver_until_empty(Outbox(str(tmp_path / "outbox"), [], str(secrets), backoff=FAST)))
    assert set(receiver.accepted) == {p.name[:-5] for p in pending} and set(receiver.accepted.values()) == {1}


def test_a_slow_receiver_never_blocks_enqueue_and_times_out(tmp_path: Path, receiver: Receiver,
                                                             secrets: Path) -> None:
    receiver.slow, receiver.failures = 0.6, 0
    outbox = Outbox(str(tmp_path / "outbox"), [target(receiver.url)], str(secrets), backoff=FAST, timeout=0.3,
                    max_age=0.0)

    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            outbox.enqueue("hold", make_call("first"), "held")
            task = asyncio.create_task(outbox.deliver_forever(client, poll=5.0))
            for _ in range(100):
                if receiver.in_flight:
                    break
                await asyncio.sleep(0.01)
            ids = await asyncio.to_thread(outbox.enqueue, "hold", make_call("second"), "held")
            assert receiver.in_flight == 1  # queued while the first delivery still hangs
            assert (tmp_path / "outbox" / "pending" / f"{ids[0]}.json").exists()
            for _ in range(200):
                if len(files(tmp_path / "outbox", "dead")) == 2:
                    break
                await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(scenario())
    errors = [json.loads(p.read_text())["lastError"] for p in files(tmp_path / "outbox", "dead")]
    assert errors == ["timeout (ReadTimeout)", "timeout (ReadTimeout)"]


@pytest.mark.parametrize("attempts", [1, 2, 5, 9, 30])
def test_backoff_doubles_with_jitter_up_to_the_cap(attempts: int) -> None:
    backoff, rng = Backoff(base=1.0, cap=300.0), random.Random(attempts)
    full = min(300.0, 2.0 ** (attempts - 1))
    delays = [backoff.delay(attempts, rng) for _ in range(50)]
    assert all(full / 2 <= d <= full for d in delays) and len(set(delays)) > 1
