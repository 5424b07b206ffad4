"""The durable notification outbox: promote / abort / hold events for CI/CD, ChatOps and incident webhooks.

Why: Flagger's tick must never wait for a chat server, and a notification the controller decided to send must not be
lost when the pod is killed. :meth:`Outbox.enqueue` is only a file write: one JSON file per target in
``<dir>/pending/``, written to a dot-named temp file, fsynced, renamed and the directory fsynced before it returns
(a SIGKILL leaves the whole file or none; the deliverer ignores dot files). :meth:`Outbox.deliver_forever` POSTs them
with ``X-Rollouts-Signature: sha256=<hex HMAC-SHA256 of the body bytes>`` (the key read from the mounted Secret file
at each attempt, never logged or recorded) and ``X-Rollouts-Delivery: <id>`` (the receiver's idempotency key: a
retried delivery carries the same id and the same bytes). A 2xx moves the file to ``delivered/``; anything else is
retried with exponential backoff and jitter (1 s doubling to 5 min by default), the attempts and the last error kept
in the file; after ``max_age`` the file goes to ``dead/`` with its last error. Delivery is at least once: a receiver
dedups by the id.

Several processes may share the directory: any of them enqueues, the one holding ``<dir>/.deliver.lock`` (flock)
delivers, so a restarted or a surviving replica delivers what the killed one queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import RolloutsError
from .decision import Call
from .evidence import canonical, rfc3339, scrub, secret_values, write_durably

EVENTS = ("promote", "abort", "hold")
SIGNATURE_HEADER = "X-Rollouts-Signature"
DELIVERY_HEADER = "X-Rollouts-Delivery"
EVENT_HEADER = "X-Rollouts-Event"
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
LOCK_NAME = ".deliver.lock"
TEMP_MARK = ".tmp-"
STALE_TEMP_SECONDS = 60.0  # a temp file older than this is a killed writer's, not one being written


class OutboxError(RolloutsError):
    """The outbox directory cannot be used."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with "equal jitter": attempt n waits between d/2 and d, d = min(cap, base * 2^(n-1)).
    The jitter keeps replicas and targets from retrying in lock step after a receiver's outage."""

    base: float = 1.0
    cap: float = 300.0

    def delay(self, attempts: int, rng: random.Random) -> float:
        full: float = min(self.cap, self.base * 2.0 ** max(0, attempts - 1))
        return full / 2 + rng.uniform(0, full / 2)


@dataclass
class Round:
    """What one :meth:`Outbox.deliver_once` did."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0


def notification_id(target: str, call: Call, event: str) -> str:
    """One notification of each event per revision and target: the hold that denies every tick, a replayed hook,
    or every replica deciding the same has the same id: one file, one delivery (per replica's outbox)."""
    text = "\n".join((target, call.environment, call.key, call.checksum, event))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def wants(target: dict[str, Any], event: str) -> bool:
    events = target.get("events")
    return event in events if isinstance(events, list) else True


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _error_text(e: BaseException) -> str:
    """The kind of failure, without the URL (it may carry credentials) or any header."""
    if isinstance(e, httpx.TimeoutException):
        return f"timeout ({type(e).__name__})"
    if isinstance(e, httpx.HTTPError):
        return f"{type(e).__name__}: cannot reach the receiver"
    return f"{type(e).__name__}"


class Outbox:
    """Queue notifications durably; deliver them with retries. ``targets`` are the controller-wide targets; a
    service's own ``notifications`` (from its config) are added per call. A target: ``{"name", "url", "events":
    [promote|abort|hold] (absent: all), "secret": {"secret", "key"} (absent: unsigned)}``."""

    def __init__(self, directory: str, targets: list[dict[str, Any]], secrets_dir: str, *,
                 max_age: float = 24 * 3600.0, backoff: Backoff | None = None, concurrency: int = 8,
                 timeout: float = 10.0, retention: float = 7 * 24 * 3600.0,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None) -> None:
        self.directory = directory
        self.targets = list(targets)
        self.secrets_dir = secrets_dir
        self.max_age, self.backoff, self.timeout, self.retention = max_age, backoff or Backoff(), timeout, retention
        self.concurrency = concurrency
        self.clock = clock
        self._rng = rng or random.Random()
        self._secrets = secret_values(secrets_dir)
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock_fd = -1
        try:
            for name in (PENDING, DELIVERED, DEAD):
                os.makedirs(os.path.join(directory, name), exist_ok=True)
        except OSError as e:
            raise OutboxError(f"cannot create the outbox directory {directory}: {e.strerror}") from None

    def path(self, state: str, name: str = "") -> str:
        return os.path.join(self.directory, state, name) if name else os.path.join(self.directory, state)

    # ------------------------------------------------------------------------------------------------ enqueue

    def enqueue(self, event: str, call: Call, reason: str) -> list[str]:
        """Queue ``event`` for every target that wants it; return the ids. Durable when it returns."""
        if event not in EVENTS:
            raise ValueError(f"unknown notification event {event!r}; one of {', '.join(EVENTS)}")
        targets = self.targets + [t for t in call.service.get("notifications") or [] if isinstance(t, dict)]
        ids = []
        when = rfc3339(call.now)
        for target in targets:
            if not wants(target, event):
                continue
            name = str(target.get("name") or target.get("url"))
            ident = notification_id(name, call, event)
            body = canonical(scrub({
                "id": ident, "event": event, "service": str(call.service.get("service") or call.name),
                "environment": call.environment, "canary": {"namespace": call.namespace, "name": call.name},
                "checksum": call.checksum, "hook": call.hook, "phase": call.phase, "reason": reason, "time": when,
            }, self._secrets)).decode()
            doc = {"id": ident, "target": {"name": name, "url": str(target.get("url", "")),
                                           "secret": target.get("secret")},
                   "body": body, "created": self.clock(), "next": self.clock(), "attempts": 0, "lastError": ""}
            self._write_new(ident, canonical(doc) + b"\n")
            ids.append(ident)
        if ids:
            self._poke()
        return ids

    def _write_new(self, ident: str, data: bytes) -> None:
        name = ident + ".json"
        if any(os.path.exists(self.path(state, name)) for state in (PENDING, DELIVERED, DEAD)):
            return  # the same notification again: already queued or done
        write_durably(self.path(PENDING), name, data)

    def _poke(self) -> None:
        """Wake the deliverer now instead of at its next poll (safe from any thread)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(wake.set)

    # ------------------------------------------------------------------------------------------------ delivery

    def pending(self) -> list[str]:
        return sorted(n for n in os.listdir(self.path(PENDING)) if n.endswith(".json") and not n.startswith("."))

    def take_delivery_lock(self) -> bool:
        """Become the one deliverer of this directory (flock, released when the process dies)."""
        if self._lock_fd >= 0:
            return True
        fd = os.open(os.path.join(self.directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def release(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _remove_stale_temp_files(self) -> None:
        now = time.time()
        for state in (PENDING, DELIVERED, DEAD):
            for name in os.listdir(self.path(state)):
                path = self.path(state, name)
                if name.startswith(".") and TEMP_MARK in name:
                    with contextlib.suppress(FileNotFoundError):
                        if now - os.stat(path).st_mtime > STALE_TEMP_SECONDS:
                            os.unlink(path)

    async def deliver_once(self, client: httpx.AsyncClient) -> Round:
        """Try every pending notification that is due, at most ``concurrency`` at a time."""
        result = Round()
        gate = asyncio.Semaphore(self.concurrency)
        now = self.clock()

        async def one(name: str) -> None:
            async with gate:
                state = await self._deliver_file(client, name, now)
                if state == DELIVERED:
                    result.delivered += 1
                elif state == DEAD:
                    result.dead += 1
                elif state == PENDING:
                    result.failed += 1

        await asyncio.gather(*(one(name) for name in self.pending()))
        self._prune_delivered()
        self._remove_stale_temp_files()
        return result

    async def deliver_forever(self, client: httpx.AsyncClient, poll: float = 1.0) -> None:
        """Deliver until cancelled: wait for the delivery lock, then a round whenever something is enqueued here or
        ``poll`` seconds pass (other processes' enqueues and retries that fall due)."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        try:
            while True:
                if self.take_delivery_lock():
                    await self.deliver_once(client)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), poll)
                self._wake.clear()
        finally:
            self._loop = self._wake = None
            self.release()

    async def _deliver_file(self, client: httpx.AsyncClient, name: str, now: float) -> str | None:
        """Deliver one file if it is due; return where it is afterwards (None: not due or gone)."""
        try:
            with open(self.path(PENDING, name), "rb") as fh:
                doc = json.loads(fh.read())
        except FileNotFoundError:
            return None
        except ValueError:
            os.replace(self.path(PENDING, name), self.path(DEAD, name))  # not ours or broken: keep it for a human
            return DEAD
        if float(doc.get("next", 0)) > now:
            return None
        error = await self._post(client, doc)
        if error is None:
            self._move(name, DELIVERED)
            return DELIVERED
        doc["attempts"] = int(doc.get("attempts", 0)) + 1
        doc["lastError"] = error
        doc["lastAttempt"] = now
        if now - float(doc.get("created", now)) >= self.max_age:
            write_durably(self.path(DEAD), name, canonical(doc) + b"\n")
            self._remove(name)
            return DEAD
        doc["next"] = now + self.backoff.delay(doc["attempts"], self._rng)
        write_durably(self.path(PENDING), name, canonical(doc) + b"\n")
        return PENDING

    async def _post(self, client: httpx.AsyncClient, doc: dict[str, Any]) -> str | None:
        """POST the stored body bytes; None on a 2xx, else the error (no secret, no URL)."""
        body = str(doc["body"]).encode()
        target = doc.get("target") or {}
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: str(doc["id"]),
                   EVENT_HEADER: str(json.loads(body).get("event", ""))}
        secret = target.get("secret")
        if secret:
            key = self._hmac_key(secret)
            if key is None:
                return f"cannot read the HMAC key {secret.get('secret')}/{secret.get('key')} under {self.secrets_dir}"
            headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        try:
            response = await client.post(str(target.get("url", "")), content=body, headers=headers,
                                         timeout=self.timeout)
        except Exception as e:  # every transport failure is a retry, never a crash of the deliverer
            return _error_text(e)
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    def _hmac_key(self, secret: dict[str, Any]) -> bytes | None:
        """The exact bytes of the mounted Secret file (a trailing newline is part of the key), read at each attempt
        so a rotated Secret is used at once."""
        name, key = str(secret.get("secret", "")), str(secret.get("key", ""))
        if not name or not key or "/" in name + key or name.startswith(".") or key.startswith("."):
            return None
        try:
            with open(os.path.join(self.secrets_dir, name, key), "rb") as fh:
                return fh.read(1 << 16)
        except OSError:
            return None

    def _move(self, name: str, state: str) -> None:
        os.replace(self.path(PENDING, name), self.path(state, name))
        _fsync_dir(self.path(state))
        _fsync_dir(self.path(PENDING))

    def _remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(PENDING, name))
        _fsync_dir(self.path(PENDING))

    def _prune_delivered(self) -> None:
        """Delivered files are kept ``retention`` seconds (they make a repeated enqueue a no-op), then removed."""
        now = time.time()  # file times are the system's, whatever clock the schedule uses
        for name in os.listdir(self.path(DELIVERED)):
            path = self.path(DELIVERED, name)
            with contextlib.suppress(FileNotFoundError):
                if not name.startswith(".") and now - os.stat(path).st_mtime > self.retention:
                    os.unlink(path)
