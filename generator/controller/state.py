"""Operators' holds, approvals and abort requests, kept in the cluster so that every replica sees them.

One ConfigMap per environment, ``analysis-controller-state-<environment>`` in ``flagger-system``; one data key per
Canary, ``<namespace>.<name>`` (a ConfigMap key allows ``[-._a-zA-Z0-9]``, and Kubernetes names have no dots, so the
key maps back to one Canary), holding JSON::

    {"hold": {"reason", "by", "at"} | null,
     "approvals": [{"checksum", "by", "at", "reason"}],
     "abort": {"reason", "by", "at", "checksum"?} | null,
     "waiting": {"checksum", "at"} | null}

Writes are read-modify-write on ``metadata.resourceVersion``: a concurrent writer makes the PUT fail with 409, and
the change is applied again to the fresh object, so no write is lost. Nothing is cached: a decision reads the
ConfigMap, so a hold set through one replica (or by ``rollouts hold`` with kubectl's credentials) stops the next
call to any replica. When the API cannot be read the checks deny with the reason (fail closed).

An approval is for one revision (Flagger's ``checksum``: a hash of the Canary's last applied spec and tracked
configs) and is consumed when that revision completes (``post-rollout``, or an ``event``, with phase Succeeded or
Failed): unlike the loadtester's gates it never stays open for the next release, nor for the same checksum coming
back later (a revert to an earlier spec has the earlier checksum). ``waiting`` records the revision that last asked
``confirm-promotion`` for an approval, so ``rollouts approve`` without ``--checksum`` approves exactly that one.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import json
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from . import kube
from .decision import Call, Input, Verdict

STATE_NAMESPACE = "flagger-system"
FINISHED_PHASES = ("Succeeded", "Failed")
MAX_ATTEMPTS = 40
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class StateError(kube.KubeError):
    """The state could not be read or written (API unreachable or refusing, a value that is not our JSON)."""


class NothingWaiting(StateError):
    """``approve`` without a checksum, and no revision is waiting at confirm-promotion."""


def configmap_name(environment: str) -> str:
    return f"analysis-controller-state-{environment}"


def data_key(canary: str) -> str:
    """``shop/checkout`` -> ``shop.checkout``: the ConfigMap key of a Canary (its namespace/name)."""
    namespace, _, name = canary.partition("/")
    if not (_NAME.match(namespace) and _NAME.match(name)):
        raise ValueError(f"not a Canary key (namespace/name, DNS labels): {canary!r}")
    return f"{namespace}.{name}"


def canary_of(key: str) -> str:
    """``shop.checkout`` -> ``shop/checkout`` (the inverse of :func:`data_key`)."""
    namespace, _, name = key.partition(".")
    return f"{namespace}/{name}"


def timestamp(now: datetime.datetime | None = None) -> str:
    """RFC 3339 in UTC, to the second, as Kubernetes writes times."""
    moment = (now or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Mark:
    """Who did it, when and why: a hold, or an abort request (then ``checksum``: the revision, "" for any)."""

    reason: str
    by: str
    at: str
    checksum: str = ""


@dataclass(frozen=True)
class Approval:
    checksum: str
    by: str
    at: str
    reason: str = ""


@dataclass(frozen=True)
class Waiting:
    """The revision that last asked confirm-promotion for an approval it did not have."""

    checksum: str
    at: str


@dataclass(frozen=True)
class ServiceState:
    hold: Mark | None = None
    approvals: tuple[Approval, ...] = ()
    abort: Mark | None = None
    waiting: Waiting | None = None

    def approval_for(self, checksum: str) -> Approval | None:
        return next((a for a in self.approvals if a.checksum == checksum), None)

    def abort_for(self, checksum: str) -> Mark | None:
        """The abort request that applies to this revision: one for it, or one for any revision."""
        if self.abort and self.abort.checksum in ("", checksum):
            return self.abort
        return None

    @property
    def empty(self) -> bool:
        return self == ServiceState()

    def to_json(self) -> str:
        hold = {"reason": self.hold.reason, "by": self.hold.by, "at": self.hold.at} if self.hold else None
        abort: dict[str, str] | None = None
        if self.abort:
            abort = {"reason": self.abort.reason, "by": self.abort.by, "at": self.abort.at}
            if self.abort.checksum:
                abort["checksum"] = self.abort.checksum
        document = {"hold": hold,
                    "approvals": [{"checksum": a.checksum, "by": a.by, "at": a.at, "reason": a.reason}
                                  for a in self.approvals],
                    "abort": abort,
                    "waiting": {"checksum": self.waiting.checksum, "at": self.waiting.at} if self.waiting else None}
        return json.dumps(document, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ServiceState:
        """Parse a stored value; ValueError when it is not this model (the checks then deny: fail closed)."""
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        hold, abort, waiting = document.get("hold"), document.get("abort"), document.get("waiting")
        return cls(hold=_mark(hold) if hold is not None else None,
                   approvals=tuple(Approval(_text(a, "checksum"), _text(a, "by"), _text(a, "at"),
                                            _text(a, "reason", "")) for a in _list(document.get("approvals"))),
                   abort=_mark(abort) if abort is not None else None,
                   waiting=Waiting(_text(waiting, "checksum"), _text(waiting, "at")) if waiting is not None else None)


def _mark(value: Any) -> Mark:
    return Mark(_text(value, "reason", ""), _text(value, "by"), _text(value, "at"), _text(value, "checksum", ""))


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("approvals is not a list")
    return value


def _text(value: Any, name: str, default: str | None = None) -> str:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object with {name!r}")
    found = value.get(name, default)
    if not isinstance(found, str):
        raise ValueError(f"{name!r} is missing or not a string")
    return found


Change = Callable[[ServiceState], ServiceState]


@dataclass
class StateStore:
    """The operator state of every Canary, in ConfigMaps through the Kubernetes API (``http``: a client made by
    :func:`kube.client`, whose base URL is the API server)."""

    http: httpx.AsyncClient
    namespace: str = STATE_NAMESPACE
    max_attempts: int = MAX_ATTEMPTS
    conflicts: int = 0  # writes refused because another writer came first (409), each then applied again
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def connect(cls, creds: kube.Credentials, namespace: str = STATE_NAMESPACE,
                timeout: float = kube.DEFAULT_TIMEOUT) -> StateStore:
        return cls(kube.client(creds, timeout), namespace)

    async def aclose(self) -> None:
        await self.http.aclose()

    def _path(self, environment: str, name: bool = True) -> str:
        base = f"/api/v1/namespaces/{self.namespace}/configmaps"
        return f"{base}/{configmap_name(environment)}" if name else base

    async def _read(self, environment: str) -> dict[str, Any] | None:
        """The environment's ConfigMap, None when it does not exist yet."""
        status, data = await self._call("GET", self._path(environment), None, environment, "read")
        return None if status == 404 else data

    async def _call(self, method: str, path: str, body: Any, environment: str,
                    verb: str) -> tuple[int, dict[str, Any]]:
        try:
            status, data = await kube.request(self.http, method, path, body)
        except kube.KubeError as e:
            raise StateError(e.message, e.hint) from None
        if status in (200, 201, 404, 409):
            return status, data
        error = kube.refusal(status, data, f"{verb} ConfigMap {self.namespace}/{configmap_name(environment)}")
        raise StateError(error.message, error.hint, status)

    async def get(self, environment: str, canary: str) -> ServiceState:
        """The state of ``canary`` (``namespace/name``) in ``environment``; empty when nothing was ever set."""
        key = _key_of(canary)
        return _state_in(await self._read(environment), key, environment)

    async def update(self, environment: str, canary: str, change: Change) -> ServiceState:
        """Apply ``change`` to the Canary's state and store it: create the ConfigMap on first use, apply the change
        again on the fresh object after a conflict (409), up to ``max_attempts`` times. Returns the stored state."""
        key = _key_of(canary)
        for attempt in range(self.max_attempts):
            configmap = await self._read(environment)
            before = _state_in(configmap, key, environment)
            after = change(before)
            if after == before:
                return after
            status = await self._write(environment, configmap, key, after)
            if status in (200, 201):
                return after
            self.conflicts += 1
            await asyncio.sleep(min(0.5, 0.01 * 2 ** min(attempt, 6)) * self._rng.random())  # 409: someone wrote
        raise StateError(f"gave up writing {canary} in {configmap_name(environment)} after {self.max_attempts} "
                         "conflicting attempts", "too many concurrent writers: try again")

    async def _write(self, environment: str, configmap: dict[str, Any] | None, key: str,
                     state: ServiceState) -> int:
        if configmap is None:
            body = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": configmap_name(environment), "namespace": self.namespace,
                                 "labels": {"app.kubernetes.io/managed-by": "rollouts-analysis-controller"}},
                    "data": {} if state.empty else {key: state.to_json()}}
            status, _ = await self._call("POST", self._path(environment, name=False), body, environment, "create")
            return status
        data = dict(configmap.get("data") or {})
        if state.empty:
            data.pop(key, None)
        else:
            data[key] = state.to_json()
        body = {**configmap, "data": data}  # keeps metadata.resourceVersion: the PUT is refused (409) if it moved
        status, _ = await self._call("PUT", self._path(environment), body, environment, "update")
        return status

    # -- what operators do ------------------------------------------------------------------------------------

    async def hold(self, environment: str, canary: str, reason: str, by: str) -> ServiceState:
        mark = Mark(reason, by, timestamp())
        return await self.update(environment, canary, lambda s: replace(s, hold=mark))

    async def release(self, environment: str, canary: str, by: str) -> ServiceState:
        return await self.update(environment, canary, lambda s: replace(s, hold=None))

    async def approve(self, environment: str, canary: str, reason: str, by: str,
                      checksum: str | None = None) -> Approval:
        """Approve revision ``checksum``, or (None) the revision waiting at confirm-promotion; StateError when no
        revision is waiting."""
        chosen: list[Approval] = []

        def change(state: ServiceState) -> ServiceState:
            revision = checksum or (state.waiting.checksum if state.waiting else "")
            if not revision:
                raise NothingWaiting(f"no revision of {canary} is waiting for approval in {environment}",
                                 "pass --checksum, or wait until the Canary reaches confirm-promotion")
            approval = Approval(revision, by, timestamp(), reason)
            chosen[:] = [approval]
            others = tuple(a for a in state.approvals if a.checksum != revision)
            return replace(state, approvals=(*others, approval))

        await self.update(environment, canary, change)
        return chosen[0]

    async def abort(self, environment: str, canary: str, reason: str, by: str,
                    checksum: str | None = None) -> ServiceState:
        mark = Mark(reason, by, timestamp(), checksum or "")
        return await self.update(environment, canary, lambda s: replace(s, abort=mark))


def _key_of(canary: str) -> str:
    try:
        return data_key(canary)
    except ValueError as e:
        raise StateError(str(e)) from None


def _state_in(configmap: dict[str, Any] | None, key: str, environment: str) -> ServiceState:
    value = ((configmap or {}).get("data") or {}).get(key)
    if value is None:
        return ServiceState()
    try:
        return ServiceState.from_json(value)
    except ValueError as e:
        raise StateError(f"the state of {canary_of(key)} in ConfigMap {configmap_name(environment)} is not "
                         f"readable ({e})", "fix or delete that key with kubectl edit") from None


# -- the checks -------------------------------------------------------------------------------------------------

Check = Callable[[Call, "StateStore"], Awaitable[Verdict]]


def _evidenced(check: Check) -> Check:
    """The evidence of a state check: which ConfigMap key it read, and what it found (the verdict's reason)."""

    @functools.wraps(check)
    async def run(call: Call, store: StateStore) -> Verdict:
        verdict = await check(call, store)
        try:
            source = f"ConfigMap {store.namespace}/{configmap_name(call.environment)} key {data_key(call.key)}"
        except ValueError:
            source = f"ConfigMap {store.namespace}/{configmap_name(call.environment)}"
        return replace(verdict, inputs=(Input(name=verdict.check, query=source, value=None, threshold="",
                                              passed=verdict.allow, detail=verdict.reason),))

    return run


@_evidenced
async def check_hold(call: Call, store: StateStore) -> Verdict:
    """confirm-rollout, confirm-traffic-increase, confirm-promotion: a hold stops the Canary where it is."""
    try:
        state = await store.get(call.environment, call.key)
    except StateError as e:
        return Verdict.deny("hold", f"cannot read holds: {e.message}")
    if state.hold:
        return Verdict.deny("hold", f"held by {state.hold.by} at {state.hold.at}: {state.hold.reason}",
                            by=state.hold.by, at=state.hold.at)
    return Verdict.ok("hold", "not held")


@_evidenced
async def check_approval(call: Call, store: StateStore) -> Verdict:
    """confirm-promotion when the service asks for approval: passes only with an approval of this checksum.
    Without one it records the checksum as waiting (so ``rollouts approve`` without --checksum finds it)."""
    if not (call.service.get("approval") or {}).get("required"):
        return Verdict.ok("approval", "no approval required")
    try:
        state = await store.get(call.environment, call.key)
        approval = state.approval_for(call.checksum)
        if approval:
            return Verdict.ok("approval", f"revision {call.checksum} approved by {approval.by} at {approval.at}"
                              + (f": {approval.reason}" if approval.reason else ""), by=approval.by)
        if not state.waiting or state.waiting.checksum != call.checksum:
            waiting = Waiting(call.checksum, timestamp(call.now))
            await store.update(call.environment, call.key, lambda s: replace(s, waiting=waiting))
    except StateError as e:
        return Verdict.deny("approval", f"cannot read or record approvals: {e.message}")
    return Verdict.deny("approval", f"revision {call.checksum} of {call.key} waits for approval: rollouts approve "
                        f"{call.service.get('service') or call.name} --env {call.environment}")


@_evidenced
async def check_abort(call: Call, store: StateStore) -> Verdict:
    """The rollback hook, inverted: ``allow`` True (answered 200) means ROLL BACK NOW. So this check's failure mode
    is "no rollback": when the state cannot be read, a rollback that was asked for is not done at this tick, and
    the reason says so (an abort must never be invented; the next tick reads again)."""
    try:
        state = await store.get(call.environment, call.key)
    except StateError as e:
        return Verdict.deny("abort", f"cannot read abort requests: {e.message}")
    abort = state.abort_for(call.checksum)
    if abort:
        return Verdict.ok("abort", f"abort requested by {abort.by} at {abort.at}: {abort.reason}", by=abort.by,
                          at=abort.at)
    return Verdict.deny("abort", "no abort requested")


@_evidenced
async def check_completion(call: Call, store: StateStore) -> Verdict:
    """post-rollout and event: when a revision has finished (Succeeded or Failed), its approval is consumed, its
    waiting mark and, once Failed, its abort request are cleared. Allows unless the write failed (then the reason
    says so; Flagger calls ``event`` again with the next event, so the consumption is retried)."""
    if call.phase not in FINISHED_PHASES:
        return Verdict.ok("completion", f"phase {call.phase or 'unknown'}: nothing to consume")

    def finish(state: ServiceState) -> ServiceState:
        abort = state.abort
        if call.phase == "Failed" and state.abort_for(call.checksum):
            abort = None
        waiting = None if state.waiting and state.waiting.checksum == call.checksum else state.waiting
        return replace(state, approvals=tuple(a for a in state.approvals if a.checksum != call.checksum),
                       abort=abort, waiting=waiting)

    try:
        await store.update(call.environment, call.key, finish)
    except StateError as e:
        return Verdict.deny("completion", f"cannot consume the approval of {call.checksum}: {e.message}")
    return Verdict.ok("completion", f"revision {call.checksum} {call.phase}: its approval and abort are consumed")

