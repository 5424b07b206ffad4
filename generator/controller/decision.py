"""What every check of the analysis controller returns, and what one webhook call is about.

A check is an async callable ``(Call) -> Verdict``. The webhook answers 200 when every check of its hook type
passes, else a 4xx whose body is the first denial's one-line ``reason`` (Flagger puts it in its events). A check
that cannot decide (Prometheus down, a probe timing out, no config) denies with the reason: the controller fails
closed. Only the controller's own faults are 5xx.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

HookType = Literal["confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase", "confirm-promotion",
                   "post-rollout", "rollback", "event"]
HOOK_TYPES: tuple[HookType, ...] = ("confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase",
                                    "confirm-promotion", "post-rollout", "rollback", "event")


@dataclass(frozen=True)
class Input:
    """One measured input of a decision, as the evidence records it: what was asked (a PromQL query, a probe step),
    over which window, the value found (None: no data), the threshold it was held against, and how many samples
    (requests, probe runs) it rests on."""

    name: str
    query: str = ""
    window: str = ""
    value: float | None = None
    threshold: str = ""
    samples: int | None = None
    passed: bool = True
    detail: str = ""


@dataclass(frozen=True)
class Verdict:
    """A check's answer. ``allow`` False denies the hook with ``reason`` (one line, no secret). ``check`` names the
    check (``change-window``, ``hold``, ``judge``, ...). ``inputs`` are the evidence of the decision."""

    check: str
    allow: bool
    reason: str
    inputs: tuple[Input, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the judge's score and class

    @classmethod
    def ok(cls, check: str, reason: str = "", inputs: tuple[Input, ...] = (), **extra: Any) -> Verdict:
        return cls(check, True, reason or "passed", inputs, extra)

    @classmethod
    def deny(cls, check: str, reason: str, inputs: tuple[Input, ...] = (), **extra: Any) -> Verdict:
        return cls(check, False, reason, inputs, extra)


@dataclass(frozen=True)
class Call:
    """One webhook call from Flagger: the hook type (from the URL), the Canary (``namespace/name``), its phase, and
    Flagger's ``checksum`` of the revision. Every decision is keyed by ``key`` + ``checksum``. ``service`` is the
    service's configuration (see :mod:`rollouts.controller.config`), ``now`` the time of the call (UTC, aware).
    ``metadata``: the webhook's metadata map (strings), with the event's ``eventMessage``/``eventType``/``timestamp``
    for ``event``."""

    hook: HookType
    namespace: str
    name: str
    phase: str
    checksum: str
    metadata: dict[str, str]
    service: dict[str, Any]
    environment: str
    now: Any  # datetime.datetime, timezone-aware UTC

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"
