"""Synthetic probe flows for the ``rollout`` hook: the service's user journeys, run against the canary and the primary.

A flow is an ordered list of HTTP steps (Grafana Synthetic Monitoring's MultiHTTP model): each step has a method,
path, headers (some read from mounted Secret files), a body, an expected status, a latency budget, a body regex and
captures (a regex with one group applied to the response body) whose values later steps use as ``{{ name }}`` in
their path (URL-encoded), headers and body. Flows run concurrently, the steps of a flow in order; each flow runs on
both tracks, the canary (``targets.canaryURL``) and the primary (``targets.primaryURL``).

The verdict denies when any canary step fails; the first failure in configuration order is the reason. The primary is
the control group: a primary failure alone does not deny the canary, but it is reported. When both fail, the check
still denies (fail closed: a broken environment is no ground to promote) and says that the primary fails too, so
the operator looks at the environment rather than the release.

No secret value reaches the verdict, a log line or a metric: inputs name the configured path template (not the
substituted one), reasons name statuses, budgets and regexes from the configuration, never a response body or a
header value. Captured values are not recorded either (they may be session tokens).

Per step and track, ``probe_success`` and ``probe_duration_seconds`` (blackbox_exporter's names, gauges) are set on a
:class:`ProbeMetrics` bound to a registry the caller passes; every label value comes from the configuration.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from prometheus_client import CollectorRegistry, Gauge

from ..durations import milliseconds
from .decision import Call, Input, Verdict

CHECK = "probes"
TRACKS = ("canary", "primary")
SLACK_SECONDS = 0.25  # a step waits its latency budget plus this, so a slow answer is measured rather than cut off
MAX_BODY_BYTES = 1 << 20  # bodies are read up to 1 MiB for bodyMatch and captures; a probe is not a download
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_DURATION = re.compile(r"([0-9]+(ms|s|m|h))+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_PART = re.compile(r"[-._A-Za-z0-9]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")  # RFC 9110 field-value in ASCII: no CR, LF or other controls
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

log = logging.getLogger(__name__)


class ProbeConfigError(Exception):
    """The service's probe configuration cannot be run (a bad regex, duration or reference): the check denies."""


class ProbeMetrics:
    """``probe_success`` (1/0) and ``probe_duration_seconds`` per step and track, on the registry the caller serves.

    Labels: service, environment, flow, step, track; all from the configuration (bounded), never free text."""

    LABELS = ("service", "environment", "flow", "step", "track")

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.success = Gauge("probe_success", "Whether the last run of the probe step passed (1) or failed (0).",
                             self.LABELS, registry=registry)
        self.duration = Gauge("probe_duration_seconds", "How long the last run of the probe step took, in seconds.",
                              self.LABELS, registry=registry)


PROBE_REGISTRY = CollectorRegistry()
PROBE_METRICS = ProbeMetrics(PROBE_REGISTRY)  # for a caller that serves this module's own registry


@dataclass(frozen=True)
class SecretRef:
    """A header value kept in a mounted Secret file ``<secrets_dir>/<secret>/<key>``."""

    secret: str
    key: str


@dataclass(frozen=True)
class Step:
    """One configured request and what it must return."""

    flow: str
    name: str
    method: str
    path: str
    headers: Mapping[str, str]
    secret_headers: Mapping[str, SecretRef]
    body: str | None
    expect_status: int
    budget: str
    budget_ms: int
    body_match: re.Pattern[str] | None
    captures: Mapping[str, re.Pattern[str]]

    @property
    def label(self) -> str:
        return f"{self.flow}/{self.name}"

    @property
    def timeout(self) -> float:
        return self.budget_ms / 1000 + SLACK_SECONDS


@dataclass(frozen=True)
class Flow:
    name: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class StepResult:
    """What one step did on one track. ``failure`` is empty when it passed; ``ran`` is False when an earlier step of
    its flow failed, so this one was not sent."""

    step: Step
    track: str
    passed: bool
    failure: str = ""
    status: int | None = None
    latency_ms: float | None = None
    ran: bool = True


@dataclass
class _Outcome:
    """A response as far as a step needs it, or why there was none."""

    status: int | None = None
    body: str = ""
    elapsed_ms: float = 0.0
    error: str = ""


# ---- reading the configuration ------------------------------------------------------------------------------------


def read_flows(service: Mapping[str, Any]) -> tuple[Flow, ...]:
    """The service's flows, every regex compiled and every reference checked before any request is sent."""
    probes = service.get("probes") or {}
    if not isinstance(probes, dict):
        raise ProbeConfigError("probes is not an object")
    flows = probes.get("flows") or []
    if not isinstance(flows, list):
        raise ProbeConfigError("probes.flows is not a list")
    out: list[Flow] = []
    seen: set[str] = set()
    for index, raw in enumerate(flows):
        flow = _read_flow(raw, index)
        if flow.name in seen:
            raise ProbeConfigError(f"probe flow {flow.name} is defined twice")
        seen.add(flow.name)
        out.append(flow)
    return tuple(out)


def _read_flow(raw: Any, index: int) -> Flow:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ProbeConfigError(f"probe flow #{index + 1} has no name")
    name = raw["name"]
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise ProbeConfigError(f"probe flow {name} has no steps")
    steps: list[Step] = []
    captured: set[str] = set()
    for position, step_raw in enumerate(steps_raw):
        step = _read_step(name, step_raw, position, captured)
        if any(s.name == step.name for s in steps):
            raise ProbeConfigError(f"probe {step.label}: the step name is used twice in the flow")
        captured |= set(step.captures)
        steps.append(step)
    return Flow(name, tuple(steps))


def _read_step(flow: str, raw: Any, position: int, captured: set[str]) -> Step:
    if not isinstance(raw, dict):
        raise ProbeConfigError(f"probe flow {flow}: step #{position + 1} is not an object")
    name = raw.get("name") or f"step-{position + 1}"
    where = f"probe {flow}/{name}"
    method = str(raw.get("method", "GET")).upper()
    if method not in METHODS:
        raise ProbeConfigError(f"{where}: method {method} is not one of {', '.join(sorted(METHODS))}")
    path = raw.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ProbeConfigError(f"{where}: path must start with /")
    budget = str(raw.get("latencyBudget", "1s"))
    if not _DURATION.fullmatch(budget) or milliseconds(budget) <= 0:
        raise ProbeConfigError(f"{where}: latencyBudget {budget!r} is not a duration like 300ms")
    expect = raw.get("expectStatus", 200)
    if not isinstance(expect, int) or not 100 <= expect <= 599:
        raise ProbeConfigError(f"{where}: expectStatus {expect!r} is not an HTTP status")
    headers = _string_map(raw.get("headers"), f"{where}: headers")
    body = raw.get("body")
    if body is not None and not isinstance(body, str):
        raise ProbeConfigError(f"{where}: body is not a string")
    for text in (path, body or "", *headers.values()):
        for ref in _PLACEHOLDER.findall(text):
            if ref not in captured:
                raise ProbeConfigError(f"{where}: {{{{ {ref} }}}} is not captured by an earlier step of the flow")
    return Step(flow=flow, name=name, method=method, path=path, headers=headers,
                secret_headers=_read_secret_headers(raw.get("headersFromSecrets"), where), body=body,
                expect_status=expect, budget=budget, budget_ms=milliseconds(budget),
                body_match=_compile(raw.get("bodyMatch"), f"{where}: bodyMatch"),
                captures=_read_captures(raw.get("capture"), where))


def _string_map(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise ProbeConfigError(f"{where} must map names to strings")
    return dict(raw)


def _read_secret_headers(raw: Any, where: str) -> dict[str, SecretRef]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ProbeConfigError(f"{where}: headersFromSecrets must map header names to {{secret, key}}")
    out: dict[str, SecretRef] = {}
    for header, ref in raw.items():
        secret = ref.get("secret") if isinstance(ref, dict) else None
        key = ref.get("key") if isinstance(ref, dict) else None
        if not all(isinstance(part, str) and _SECRET_PART.fullmatch(part) and part not in (".", "..")
                   for part in (secret, key)):
            raise ProbeConfigError(f"{where}: headersFromSecrets.{header} needs a secret and a key (file names)")
        out[str(header)] = SecretRef(str(secret), str(key))
    return out


def _read_captures(raw: Any, where: str) -> dict[str, re.Pattern[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ProbeConfigError(f"{where}: capture must map names to regular expressions")
    out: dict[str, re.Pattern[str]] = {}
    for name, pattern in raw.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ProbeConfigError(f"{where}: capture name {name!r} is not an identifier")
        compiled = _compile(pattern, f"{where}: capture {name}")
        if compiled is None or compiled.groups != 1:
            raise ProbeConfigError(f"{where}: capture {name} needs a regular expression with exactly one group")
        out[name] = compiled
    return out


def _compile(pattern: Any, where: str) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        raise ProbeConfigError(f"{where} is not a string")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ProbeConfigError(f"{where} {pattern!r} is not a valid regular expression: {exc}") from None


def read_secrets(flows: tuple[Flow, ...], secrets_dir: str) -> dict[SecretRef, str]:
    """Every referenced Secret file, read once per check (so a rotated Secret is used at the next tick). A trailing
    newline (``kubectl create secret --from-file`` keeps it) is dropped."""
    values: dict[SecretRef, str] = {}
    for flow in flows:
        for step in flow.steps:
            for ref in step.secret_headers.values():
                if ref in values:
                    continue
                path = os.path.join(secrets_dir, ref.secret, ref.key)
                try:
                    with open(path, encoding="utf-8") as handle:
                        value = handle.read().rstrip("\r\n")
                except (OSError, UnicodeDecodeError):
                    raise ProbeConfigError(f"probe {step.label}: secret {ref.secret}/{ref.key} is not readable "
                                           f"at {path}") from None
                if not _HEADER_VALUE.fullmatch(value):  # refused here, so no HTTP library logs it in an error
                    raise ProbeConfigError(f"probe {step.label}: secret {ref.secret}/{ref.key} is not a valid "
                                           "header value (printable ASCII only)")
                values[ref] = value
    return values


# ---- running ------------------------------------------------------------------------------------------------------


def _substitute(text: str, captured: Mapping[str, str], *, in_path: bool) -> str:
    def value(match: re.Match[str]) -> str:
        found = captured[match.group(1)]
        return quote(found, safe="") if in_path else found

    return _PLACEHOLDER.sub(value, text)


async def _send(step: Step, base_url: str, captured: Mapping[str, str], secrets: Mapping[SecretRef, str],
                client: httpx.AsyncClient) -> _Outcome:
    """One request, bounded by the step's budget plus slack; the body read up to MAX_BODY_BYTES."""
    url = base_url.rstrip("/") + _substitute(step.path, captured, in_path=True)
    headers = {name: _substitute(value, captured, in_path=False) for name, value in step.headers.items()}
    headers.update({name: secrets[ref] for name, ref in step.secret_headers.items()})
    invalid = sorted(name for name, value in headers.items() if not _HEADER_VALUE.fullmatch(value))
    if invalid:  # a captured value with a newline or non-ASCII: refused before any HTTP library sees (or logs) it
        return _Outcome(error=f"header {invalid[0]} is not a valid header value")
    content = _substitute(step.body, captured, in_path=False).encode() if step.body is not None else None
    started = time.perf_counter()
    outcome = _Outcome()
    try:
        async with asyncio.timeout(step.timeout), client.stream(
                step.method, url, headers=headers, content=content, timeout=step.timeout,
                follow_redirects=False) as response:
            outcome.status = response.status_code
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_BODY_BYTES:
                    break
            outcome.body = b"".join(chunks)[:MAX_BODY_BYTES].decode(response.encoding or "utf-8", errors="replace")
    except (TimeoutError, httpx.TimeoutException):
        outcome.status = None
        outcome.error = f"no answer within {step.budget} (+{round(SLACK_SECONDS * 1000)} ms)"
    except httpx.ConnectError:
        outcome.error = "cannot connect"
    except (httpx.HTTPError, httpx.InvalidURL, UnicodeEncodeError) as exc:
        # the message may carry the URL with captured values or part of a header: only the kind is kept
        outcome.status = None
        outcome.error = f"request failed ({type(exc).__name__})"
    outcome.elapsed_ms = (time.perf_counter() - started) * 1000
    return outcome


def _judge(step: Step, outcome: _Outcome, captured: dict[str, str]) -> str:
    """Why the step failed ("" when it passed); fills ``captured`` from the body."""
    ms = round(outcome.elapsed_ms)
    if outcome.error:
        return outcome.error
    if outcome.status != step.expect_status:
        return f"expected {step.expect_status}, got {outcome.status} in {ms} ms"
    if outcome.elapsed_ms > step.budget_ms:
        return f"took {ms} ms, over the {step.budget} budget"
    if step.body_match is not None and not step.body_match.search(outcome.body):
        return f"the body does not match {step.body_match.pattern!r}"
    for name, pattern in step.captures.items():
        found = pattern.search(outcome.body)
        if found is None or found.group(1) is None:
            return f"capture {name} not found in the body ({pattern.pattern!r})"
        captured[name] = found.group(1)
    return ""


async def run_flow(flow: Flow, track: str, base_url: str, secrets: Mapping[SecretRef, str],
                   client: httpx.AsyncClient) -> list[StepResult]:
    """The flow's steps in order on one track; after the first failure the rest are reported as not run."""
    results: list[StepResult] = []
    captured: dict[str, str] = {}
    failed: StepResult | None = None
    for step in flow.steps:
        if failed is not None:
            results.append(StepResult(step, track, passed=False, failure=f"not run: {failed.step.name} failed",
                                      ran=False))
            continue
        outcome = await _send(step, base_url, captured, secrets, client)
        failure = _judge(step, outcome, captured)
        result = StepResult(step, track, passed=not failure, failure=failure, status=outcome.status,
                            latency_ms=round(outcome.elapsed_ms, 1))
        if failure:
            failed = result
            log.info("probe %s on the %s failed: %s", step.label, track, failure)
        results.append(result)
    return results


# ---- the verdict --------------------------------------------------------------------------------------------------


def _input(result: StepResult) -> Input:
    step = result.step
    detail = f"status {result.status}" if result.status is not None else "no status"
    if result.failure:
        detail += f"; {result.failure}"
    return Input(name=f"probe {step.label} {result.track}", query=f"{step.method} {step.path}",
                 value=result.latency_ms, threshold=f"status {step.expect_status} within {step.budget}",
                 samples=1 if result.ran else 0, passed=result.passed, detail=detail)


def _first_failure(results: list[StepResult], track: str) -> StepResult | None:
    return next((r for r in results if r.track == track and not r.passed and r.ran), None)


def _reason(results: list[StepResult]) -> tuple[bool, str]:
    canary = _first_failure(results, "canary")
    primary = _first_failure(results, "primary")
    steps = sum(1 for r in results if r.track == "canary")
    if canary is None:
        if primary is None:
            return True, f"the canary and the primary pass {steps} probe step(s)"
        return True, (f"the canary passes {steps} probe step(s); the primary fails probe {primary.step.label}: "
                      f"{primary.failure}")
    reason = f"probe {canary.step.label} on the canary: {canary.failure}"
    if primary is not None:
        reason += (f"; the primary also fails (probe {primary.step.label}: {primary.failure}): the environment is "
                   "likely at fault, not only the canary")
    return False, reason


def _record(metrics: ProbeMetrics, call: Call, results: list[StepResult]) -> None:
    for result in results:
        labels = (str(call.service.get("service", call.name)), call.environment, result.step.flow,
                  result.step.name, result.track)
        metrics.success.labels(*labels).set(1 if result.passed else 0)
        if result.ran and result.latency_ms is not None:
            metrics.duration.labels(*labels).set(result.latency_ms / 1000)


def _deadline(flows: tuple[Flow, ...]) -> float:
    """The longest flow's sum of step timeouts, plus a second: no flow can legitimately take longer."""
    return max(sum(step.timeout for step in flow.steps) for flow in flows) + 1.0


async def check_probes(call: Call, client: httpx.AsyncClient, secrets_dir: str,
                       metrics: ProbeMetrics | None = None, *, deadline: float | None = None) -> Verdict:
    """Run every probe flow on the canary and the primary; deny when a canary step fails (see the module doc).

    ``deadline`` bounds the whole check in seconds (default: the longest flow's step timeouts plus one second).
    ``metrics`` None records nothing (pass :data:`PROBE_METRICS` or your own)."""
    try:
        flows = read_flows(call.service)
        if not flows:
            return Verdict.ok(CHECK, "no probe flows configured")
        targets = call.service.get("targets") or {}
        urls = {track: targets.get(f"{track}URL") for track in TRACKS}
        for track, url in urls.items():
            if not isinstance(url, str) or not re.match(r"^https?://", url):
                raise ProbeConfigError(f"targets.{track}URL is not an http(s) URL")
        secrets = read_secrets(flows, secrets_dir)
    except ProbeConfigError as exc:
        return Verdict.deny(CHECK, f"probe configuration: {exc}")
    limit = deadline if deadline is not None else _deadline(flows)
    try:
        async with asyncio.timeout(limit):
            runs = await asyncio.gather(*(run_flow(flow, track, str(urls[track]), secrets, client)
                                          for flow in flows for track in TRACKS))
    except TimeoutError:
        return Verdict.deny(CHECK, f"the probes did not finish within {round(limit * 1000)} ms")
    results = sorted((r for run in runs for r in run), key=_order(flows))
    if metrics is not None:
        _record(metrics, call, results)
    allow, reason = _reason(results)
    inputs = tuple(_input(r) for r in results)
    failures = {f"{track}_failures": sum(1 for r in results if r.track == track and not r.passed) for track in TRACKS}
    return Verdict(CHECK, allow, reason, inputs, failures)


def _order(flows: tuple[Flow, ...]) -> Callable[[StepResult], tuple[int, int, int]]:
    """Configuration order: flow, step, then canary before primary; so reasons and evidence are deterministic."""
    position = {(flow.name, step.name): (i, j) for i, flow in enumerate(flows) for j, step in enumerate(flow.steps)}

    def key(result: StepResult) -> tuple[int, int, int]:
        i, j = position[(result.step.flow, result.step.name)]
        return i, j, TRACKS.index(result.track)

    return key
