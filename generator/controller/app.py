"""The controller's HTTP service: Flagger's webhooks, health, readiness and metrics, on Starlette.

Flagger's contract (pkg/controller/webhook.go): only 200-202 pass; any other status fails the hook and its body
becomes the Canary's event message; 5xx and 429 are retried and, when retries run out, the body is lost. So: 200 to
pass, 403 with a one-line reason to deny, 400/404/413 for what the caller got wrong, 5xx only for the controller's own
faults. ``rollback`` is inverted: 200 means "roll back now", so it answers 403 unless an abort was asked for.

Each hook type has an explicit list of checks (``CHECKS``). The checks of one call run concurrently under one time
budget: a check still running when the budget is spent denies with "timed out after ...", so a slow downstream never
holds Flagger's tick past the hook's timeout. Every decision is keyed by the Canary's ``namespace/name`` and Flagger's
``checksum`` and logged as one JSON line (no metadata values: a webhook's metadata may carry anything).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .budget import check_budget
from .config import ConfigSource, EnvironmentConfig
from .decision import HOOK_TYPES, Call, HookType, Verdict
from .health import check_mtls, check_primary_health
from .judge import check_judge
from .payload import MAX_BODY, Payload, PayloadError, PayloadTooLarge, parse, read_limited
from .probes import ProbeMetrics, check_probes
from .prom import Prometheus
from .state import check_abort, check_approval, check_completion, check_hold
from .windows import check_change_window, check_freeze

log = logging.getLogger("rollouts.controller.decision")


def utc_now() -> datetime:
    return datetime.now(UTC)


DEFAULT_PROMETHEUS_TIMEOUT = 5.0  # Flagger's own query timeout (pkg/metrics/providers/prometheus.go)


@dataclass
class Deps:
    """What checks need besides the call, passed explicitly (no globals): the shared outbound HTTP client (probes
    and Prometheus; its pool bounds the connections), one Prometheus client per configured server, the operator
    state store, the evidence log, the outbox, the probe metrics, and the environments of the current config."""

    settings: Settings
    store: Any = None
    http: Any = None
    evidence: Any = None
    outbox: Any = None
    probe_metrics: ProbeMetrics | None = None
    environments: Mapping[str, EnvironmentConfig] = field(default_factory=dict)
    _prometheus: dict[tuple[str, float], Prometheus] = field(default_factory=dict)

    def prometheus(self, call: Call) -> Prometheus | None:
        """The Prometheus of the call's environment (``prometheus.address`` in its config), or None."""
        env = self.environments.get(call.environment)
        settings = env.prometheus if env is not None else {}
        address = settings.get("address")
        if not isinstance(address, str) or not address:
            return None
        timeout = _seconds(settings.get("timeout")) or DEFAULT_PROMETHEUS_TIMEOUT
        key = (address, timeout)
        if key not in self._prometheus:
            self._prometheus[key] = Prometheus(address, timeout, client=self.http)
        return self._prometheus[key]

    async def aclose(self) -> None:
        for resource in (self.http, self.store):
            if resource is not None:
                await resource.aclose()
        if self.evidence is not None:
            self.evidence.close()  # releases the chain's lock


def _seconds(text: Any) -> float | None:
    """``5s``, ``500ms``, ``1m`` -> seconds (the config loader has checked the form)."""
    if not isinstance(text, str):
        return None
    total = 0.0
    for number, unit in re.findall(r"([0-9]+)(ms|s|m|h)", text):
        total += int(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total or None


# A check is a coroutine function, or a plain function for one that only computes (no I/O, nothing to wait for):
# those run inline, without a task of their own
Check = Callable[[Call, Deps], Coroutine[Any, Any, Verdict]] | Callable[[Call, Deps], Verdict]


def _change_window(call: Call, deps: Deps) -> Verdict:
    return check_change_window(call)


def _freeze(call: Call, deps: Deps) -> Verdict:
    return check_freeze(call)


NO_ABORT = "no abort requested"
NO_STORE = "no Kubernetes API configured for the operator state (run in the cluster or pass --kubeconfig)"


async def _hold(call: Call, deps: Deps) -> Verdict:
    if not deps.settings.operator_state:
        return Verdict.ok("hold", "operator state not used by this controller")
    if deps.store is None:  # fail closed: a hold that cannot be read may be there
        return Verdict.deny("hold", f"cannot read holds: {NO_STORE}")
    return await check_hold(call, deps.store)


async def _abort(call: Call, deps: Deps) -> Verdict:
    if not deps.settings.operator_state:
        return Verdict.deny("abort", NO_ABORT)
    if deps.store is None:  # inverted hook: failing closed means no rollback invented
        return Verdict.deny("abort", f"cannot read abort requests: {NO_STORE}")
    return await check_abort(call, deps.store)


async def _approval(call: Call, deps: Deps) -> Verdict:
    if not (call.service.get("approval") or {}).get("required"):
        return Verdict.ok("approval", "no approval required")
    if deps.store is None:
        return Verdict.deny("approval", f"cannot read approvals: {NO_STORE}")
    return await check_approval(call, deps.store)


def _on_prometheus(name: str, section: str,
                   check: Callable[[Call, Prometheus], Coroutine[Any, Any, Verdict]]) -> Check:
    """A check of Prometheus data, run only when the service configures ``section``; without a Prometheus address
    for the environment it denies (fail closed)."""

    async def run(call: Call, deps: Deps) -> Verdict:
        if not call.service.get(section):
            return Verdict.ok(name, f"{section} not configured")
        prom = deps.prometheus(call)
        if prom is None:
            return Verdict.deny(name, f"no Prometheus address in the {call.environment} configuration")
        return await check(call, prom)

    return run


async def _probes(call: Call, deps: Deps) -> Verdict:
    if not (call.service.get("probes") or {}).get("flows"):
        return Verdict.ok("probes", "probes not configured")
    return await check_probes(call, deps.http, deps.settings.secrets_dir, deps.probe_metrics)


# hook type -> (check name, check), in the order their denials are reported. Empty: nothing to check, the hook
# passes. rollback is inverted: a check that allows asks for the rollback. Each check runs only when the service's
# configuration has its section (the render configures exactly what the spec sets).
CHECKS: dict[HookType, tuple[tuple[str, Check], ...]] = {
    "confirm-rollout": (("freeze", _freeze), ("change-window", _change_window), ("hold", _hold)),
    "pre-rollout": (("primary-health", _on_prometheus("primary-health", "slo", check_primary_health)),
                    ("mtls", _on_prometheus("mtls", "mtls", check_mtls))),
    "rollout": (("probes", _probes), ("judge", _on_prometheus("judge", "judge", check_judge))),
    "confirm-traffic-increase": (("hold", _hold),),
    "confirm-promotion": (("hold", _hold), ("error-budget", _on_prometheus("error-budget", "errorBudget",
                                                                           check_budget)),
                          ("approval", _approval)),
    "post-rollout": (),
    "rollback": (("abort", _abort),),
    "event": (),
}
# the notification a decision sends (once per revision, event and target): a promotion let through, an abort
# answered with "roll back now", a rollout held by a freeze, a change window or an operator
NOTIFY_ALLOWED: dict[HookType, str] = {"confirm-promotion": "promote", "rollback": "abort"}
NOTIFY_DENIED: dict[HookType, str] = {"confirm-rollout": "hold", "confirm-traffic-increase": "hold",
                                      "confirm-promotion": "hold"}
HOLDING_CHECKS = frozenset({"freeze", "change-window", "hold"})
ANSWERED_AT_ONCE: frozenset[HookType] = frozenset({"event", "post-rollout"})  # notifications only, never a gate


@dataclass
class Settings:
    """How one controller runs. ``clock`` is injectable so tests can stand at a DST transition; ``time_budget`` is
    the most one decision may take (keep it under the webhook's ``timeout`` in the Canary: Flagger's default is 10s);
    ``hook_budgets`` overrides it per hook type. ``store`` is the operator state (holds, approvals, aborts: a
    :class:`rollouts.controller.state.StateStore`); with ``operator_state`` on and no store, the hold check denies
    and rollback never fires (fail closed). ``operator_state=False`` is for a controller without operator actions
    (and tests of the other checks): holds are then not checked and nothing can ask for an abort. ``outbox`` (a
    :class:`rollouts.controller.outbox.Outbox`) queues the promote / abort / hold notifications. ``evidence`` is
    the signed decision log (a :class:`rollouts.controller.evidence.EvidenceLog`): every decision that ran the
    checks is recorded before it is answered, and one that cannot be recorded is answered 500, never passed."""

    config: str | None
    evidence_dir: str | None = None
    outbox_dir: str | None = None
    outbox: Any = None
    secrets_dir: str = "/etc/rollouts/secrets"
    clock: Callable[[], datetime] = utc_now
    time_budget: float = 8.0
    hook_budgets: dict[str, float] = field(default_factory=dict)
    max_concurrent: int = 256
    poll_interval: float = 1.0
    store: Any = None
    evidence: Any = None
    operator_state: bool = True
    checks: Mapping[HookType, Sequence[tuple[str, Check]]] = field(default_factory=lambda: dict(CHECKS))

    def budget(self, hook: str, service: Mapping[str, Any] | None = None) -> float:
        """The most one decision may take: the setting, and under the webhook's timeout in the service's Canary
        (``timeouts``, seconds, as rendered) by a fifth of it, so that Flagger hears the answer."""
        budget = self.hook_budgets.get(hook, self.time_budget)
        timeout = ((service or {}).get("timeouts") or {}).get(hook)
        if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
            budget = min(budget, timeout * 0.8)
        return budget


@dataclass(frozen=True)
class Answer:
    """One decision as it goes back to Flagger: status, one-line reason, and what led to it."""

    status: int
    reason: str
    decision: str  # allow | deny | error | invalid
    verdicts: tuple[Verdict, ...] = ()
    environment: str = ""


class Metrics:
    """The controller's metrics on its own registry: bounded labels only (hook type, decision, result), never a
    reason, a canary name or anything from a payload."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter("rollouts_controller_decisions", "Webhook decisions by hook type and decision",
                                 ["hook", "decision"], registry=self.registry)
        self.latency = Histogram("rollouts_controller_decision_seconds", "Time to answer a webhook", ["hook"],
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                                 registry=self.registry)
        self.timeouts = Counter("rollouts_controller_check_timeouts", "Checks denied for running over the budget",
                                ["hook", "check"], registry=self.registry)
        self.reloads = Counter("rollouts_controller_config_reloads", "Configuration reload attempts by result",
                               ["result"], registry=self.registry)
        self.config_ok = Gauge("rollouts_controller_config_last_reload_ok",
                               "1 when the last reload attempt succeeded, 0 when it failed (the last good "
                               "configuration stays in use)", registry=self.registry)

    def reloaded(self, ok: bool) -> None:
        self.reloads.labels("ok" if ok else "error").inc()
        self.config_ok.set(1 if ok else 0)


class Controller:
    """The decision core behind the routes: config lookup, checks under a budget, the answer."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.source = ConfigSource(settings.config, poll_interval=settings.poll_interval, on_reload=metrics.reloaded)
        http = httpx.AsyncClient(follow_redirects=False, limits=httpx.Limits(max_connections=settings.max_concurrent))
        self.deps = Deps(settings, store=settings.store, http=http, evidence=settings.evidence,
                         outbox=settings.outbox, probe_metrics=ProbeMetrics(metrics.registry))
        self.limit = asyncio.Semaphore(settings.max_concurrent)
        self.background: set[asyncio.Task[None]] = set()

    async def decide(self, hook: HookType, payload: Payload) -> Answer:
        status = self.source.current()
        config = status.config
        if hook in ANSWERED_AT_ONCE:
            found = config.lookup(payload.key) if config is not None else None
            if found is not None:
                self._after_completion(self._call(hook, payload, *found))
            return Answer(200, "accepted", "allow", environment=found[0] if found else "")
        if config is None:
            return Answer(403, f"denied: no valid controller configuration ({status.error})", "deny")
        found = config.lookup(payload.key)
        if found is None:
            envs = ", ".join(config.environment_names)
            return Answer(404, f"no configuration for {payload.key} in environment(s) {envs}", "deny")
        self.deps.environments = config.environments
        environment, service = found
        call = self._call(hook, payload, environment, service)
        budget = self.settings.budget(hook, service)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        if self.limit.locked():  # wait for a slot, within the budget (the fast path takes no timer)
            try:
                async with asyncio.timeout_at(deadline):
                    await self.limit.acquire()
            except TimeoutError:
                return Answer(503, f"controller busy: no decision slot within {budget:g}s", "error",
                              environment=environment)
        else:
            await self.limit.acquire()
        try:
            verdicts = await self._run_checks(call, deadline, budget)
        finally:
            self.limit.release()
        if verdicts is None:
            return Answer(500, f"internal error while checking {hook} (see the controller's log)", "error",
                          environment=environment)
        answer = await self._record(call, _answer(hook, verdicts, environment))
        self._notify(call, answer)
        return answer

    def _call(self, hook: HookType, payload: Payload, environment: str, service: dict[str, Any]) -> Call:
        return Call(hook=hook, namespace=payload.namespace, name=payload.name, phase=payload.phase,
                    checksum=payload.checksum, metadata=payload.metadata, service=service,
                    environment=environment, now=self.settings.clock())

    def _notify(self, call: Call, answer: Answer) -> None:
        """Queue the notification this decision sends, if any (a file write: durable, never a network wait)."""
        if self.deps.outbox is None or answer.decision not in ("allow", "deny"):
            return
        if answer.decision == "allow":
            event = NOTIFY_ALLOWED.get(call.hook)
        else:
            holding = [v for v in answer.verdicts if not v.allow and v.check in HOLDING_CHECKS]
            event = NOTIFY_DENIED.get(call.hook) if holding else None
        if event is None:
            return
        try:
            self.deps.outbox.enqueue(event, call, answer.reason)
        except Exception:  # a notification lost is logged; the decision stands
            log.exception("cannot queue the %s notification of %s@%s", event, call.key, call.checksum)

    def _after_completion(self, call: Call) -> None:
        """post-rollout and event are answered at once; what they finish (an approval consumed by the revision
        it was for, an abort cleared) runs after the answer, so a slow API server never slows Flagger's tick."""
        if self.deps.store is None or call.phase not in ("Succeeded", "Failed"):
            return

        async def complete() -> None:
            try:
                verdict = await asyncio.wait_for(check_completion(call, self.deps.store), self.settings.time_budget)
                if not verdict.allow:
                    log.warning("completion of %s@%s: %s", call.key, call.checksum, verdict.reason)
            except Exception:
                log.exception("completion of %s@%s failed", call.key, call.checksum)

        task = asyncio.get_running_loop().create_task(complete())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _record(self, call: Call, answer: Answer) -> Answer:
        """Make the decision durable evidence before Flagger hears it: a decision without its record is a 500."""
        if self.deps.evidence is None:
            return answer
        try:
            await self.deps.evidence.record_async(call, answer.decision, answer.verdicts, decider={})
        except Exception:
            log.exception("cannot record the evidence of %s %s@%s", call.hook, call.key, call.checksum)
            return Answer(500, "cannot record the evidence of this decision (see the controller's log)", "error",
                          answer.verdicts, answer.environment)
        return answer

    async def _run_checks(self, call: Call, deadline: float, budget: float) -> tuple[Verdict, ...] | None:
        """Every check of the hook at once, one timer for all: a check not done by the deadline is cancelled and
        denies with "timed out after ..."; a check that raises is the controller's fault (None: a 500). A plain
        function runs inline; one coroutine is awaited in place; several run as concurrent tasks."""
        checks = self.settings.checks.get(call.hook, ())
        results: dict[str, Verdict | BaseException | None] = {}  # None: timed out
        waiting: list[tuple[str, Coroutine[Any, Any, Verdict]]] = []
        for name, check in checks:
            try:
                outcome = check(call, self.deps)
            except Exception as fault:
                results[name] = fault
                continue
            if isinstance(outcome, Verdict):
                results[name] = outcome
            else:
                waiting.append((name, outcome))
        if len(waiting) == 1:
            name, coro = waiting[0]
            try:
                async with asyncio.timeout_at(deadline):
                    results[name] = await coro
            except TimeoutError:
                results[name] = None
            except Exception as fault:
                results[name] = fault
        elif waiting:
            loop = asyncio.get_running_loop()
            tasks = [loop.create_task(coro) for _, coro in waiting]
            try:
                _, pending = await asyncio.wait(tasks, timeout=max(deadline - loop.time(), 0))
            finally:  # also when this request is cancelled: no check outlives its call
                for task in tasks:
                    if not task.done():
                        task.cancel()
            for (name, _), task in zip(waiting, tasks, strict=True):
                results[name] = None if task in pending else (task.exception() or task.result())
        verdicts: list[Verdict] = []
        faulty = False
        for name, _ in checks:
            result = results[name]
            if result is None:
                self.metrics.timeouts.labels(call.hook, name).inc()
                verdicts.append(Verdict.deny(name, f"{name} timed out after {budget:g}s"))
            elif isinstance(result, BaseException):
                log.error("check %s raised for %s", name, call.key, exc_info=result)
                faulty = True
            else:
                verdicts.append(result)
        return None if faulty else tuple(verdicts)


def _answer(hook: HookType, verdicts: tuple[Verdict, ...], environment: str) -> Answer:
    if hook == "rollback":  # inverted: a check that allows asks for the rollback
        asked = [v for v in verdicts if v.allow]
        if asked:
            return Answer(200, one_line(f"roll back: {asked[0].reason}"), "allow", verdicts, environment)
        reason = next((v.reason for v in verdicts if not v.allow), NO_ABORT)
        return Answer(403, one_line(reason), "deny", verdicts, environment)
    denied = [v for v in verdicts if not v.allow]
    if denied:
        return Answer(403, one_line(denied[0].reason), "deny", verdicts, environment)
    reasons = "; ".join(v.reason for v in verdicts) or f"no checks for {hook}"
    return Answer(200, one_line(reasons), "allow", verdicts, environment)


def one_line(text: str, limit: int = 1000) -> str:
    """Flagger shows the body as an event message: one line, bounded."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def create_app(settings: Settings) -> Starlette:
    """The ASGI app: POST /webhooks/{type}, GET /healthz, /readyz, /metrics."""
    metrics = Metrics()
    controller = Controller(settings, metrics)
    controller.source.current()  # load now, so /readyz is right from the first probe

    async def webhook(request: Request) -> Response:
        started = time.perf_counter()
        hook_name = request.path_params["type"]
        answer, payload = await _handle(controller, hook_name, request)
        hook_label = hook_name if hook_name in HOOK_TYPES else "unknown"
        elapsed = time.perf_counter() - started
        metrics.decisions.labels(hook_label, answer.decision).inc()
        metrics.latency.labels(hook_label).observe(elapsed)
        _log_decision(hook_label, payload, answer, elapsed)
        return PlainTextResponse(answer.reason, status_code=answer.status)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        status = controller.source.current()
        body: dict[str, Any] = {"ready": status.config is not None, "error": status.error}
        if status.config is not None:
            body.update(environments=status.config.environment_names, services=status.config.service_count,
                        loadedAt=_iso(status.loaded_at), stale=status.error is not None)
        return JSONResponse(body, status_code=200 if status.config is not None else 503)

    async def metrics_endpoint(request: Request) -> Response:
        controller.source.current()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        outbox = controller.deps.outbox
        delivery = asyncio.get_running_loop().create_task(outbox.deliver_forever(controller.deps.http)) \
            if outbox is not None else None
        try:
            yield
        finally:
            if delivery is not None:
                delivery.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await delivery
            for task in list(controller.background):
                task.cancel()
            await controller.deps.aclose()

    app = Starlette(routes=[
        Route("/webhooks/{type}", webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ], lifespan=lifespan)
    app.state.controller = controller
    app.state.metrics = metrics
    return app


async def _handle(controller: Controller, hook: str, request: Request) -> tuple[Answer, Payload | None]:
    if hook not in HOOK_TYPES:  # narrows hook to HookType below
        return Answer(404, f"unknown hook type {one_line(hook, 60)!r}: expected one of "
                      f"{', '.join(HOOK_TYPES)}", "invalid"), None
    try:
        body = await read_limited(request.stream(), MAX_BODY, request.headers.get("content-length"))
    except PayloadTooLarge:
        return Answer(413, f"payload over {MAX_BODY // 1024} KiB", "invalid"), None
    try:
        payload = parse(body)
    except PayloadError as e:
        return Answer(400, e.reason, "invalid"), None
    try:
        return await controller.decide(hook, payload), payload
    except Exception:
        log.exception("decision failed for %s %s", hook, payload.key)
        return Answer(500, f"internal error while deciding {hook} (see the controller's log)", "error"), payload


def _log_decision(hook: str, payload: Payload | None, answer: Answer, elapsed: float) -> None:
    """One JSON line per decision: the key, checksum, answer and each check's outcome (never metadata values)."""
    record: dict[str, Any] = {"event": "decision", "hook": hook, "status": answer.status,
                              "decision": answer.decision, "reason": answer.reason,
                              "ms": round(elapsed * 1000, 3)}
    if payload is not None:
        record.update(canary=payload.key, checksum=payload.checksum, phase=payload.phase)
    if answer.environment:
        record["environment"] = answer.environment
    if answer.verdicts:
        record["checks"] = [{"check": v.check, "allow": v.allow} for v in answer.verdicts]
    log.info(json.dumps(record, sort_keys=True, separators=(",", ":")))


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
