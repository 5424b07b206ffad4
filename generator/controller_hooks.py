"""Which of Flagger's webhooks a service's Canary sends to the analysis controller, and with which timeouts.

One place for the render (the Canary's webhooks, and each hook's timeout in the controller's config, so that the
controller answers within it) and for lint (``gate-timeouts``: what Flagger may call in one analysis tick).

Every Canary gets the operator's guardrails, which need nothing in the spec: ``confirm-rollout`` (manual holds,
plus the spec's change windows and freezes), ``confirm-promotion`` (holds, plus the error budget and the approval
when the spec sets them), ``rollback`` (an abort asked with ``rollouts abort``) and ``post-rollout`` (a finished
revision consumes its approval and clears its abort). ``pre-rollout`` checks the primary against ``slo`` and its
mTLS share; ``rollout`` runs only for a spec with probes or a judge; ``confirm-traffic-increase`` (a hold between
steps) only for the canary strategy, the only one that calls it (pkg/controller/scheduler.go).

Timeouts are short: each check is a few Prometheus queries or one Kubernetes API read, bounded inside the
controller by a budget under the timeout. The ``rollout`` hook waits for the probe flows: the longest flow's step
budgets (each plus the probes' slack) and a second, plus a second of margin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .durations import seconds

URL = "http://analysis-controller.flagger-system:8080/webhooks/"
PROBE_STEP_SLACK = 0.25  # rollouts.controller.probes.SLACK_SECONDS: a step waits its budget plus this
FIXED_TIMEOUTS = {"confirm-rollout": 3, "pre-rollout": 4, "confirm-traffic-increase": 2, "confirm-promotion": 3,
                  "rollback": 2, "post-rollout": 2}
JUDGE_TIMEOUT = 5
GATE_TIMEOUT = 5  # the load tester's gate/check and gate/close: answered at once (pkg/loadtester/gate.go)


@dataclass(frozen=True)
class Hook:
    name: str
    type: str
    timeout: int  # seconds
    origin: tuple[str, ...]  # the spec path that asks for it

    @property
    def url(self) -> str:
        return URL + self.type


def probe_seconds(spec: Mapping[str, Any]) -> float:
    """The longest the probe flows can take: flows run concurrently, the steps of a flow in order."""
    flows = (spec.get("probes") or {}).get("flows") or []
    return max((sum(seconds(str(s["latencyBudget"])) + PROBE_STEP_SLACK for s in f["steps"]) for f in flows),
               default=0.0)


def hooks(spec: Mapping[str, Any]) -> list[Hook]:
    """The controller's webhooks of one resolved spec, in the order Flagger meets them."""
    policy: tuple[str, ...] = ("policy",) if spec.get("policy") else ("strategy",)
    out = [Hook("change-policy", "confirm-rollout", FIXED_TIMEOUTS["confirm-rollout"], policy),
           Hook("primary-health", "pre-rollout", FIXED_TIMEOUTS["pre-rollout"],
                ("slo",) if spec.get("slo") else ("strategy",))]
    probes = (spec.get("probes") or {}).get("flows")
    if probes or spec.get("judge"):
        timeout = max(math.ceil(probe_seconds(spec) + 2) if probes else 0, JUDGE_TIMEOUT if spec.get("judge") else 0)
        out.append(Hook("canary-checks", "rollout", timeout, ("probes",) if probes else ("judge",)))
    if spec["strategy"]["type"] == "canary":
        out.append(Hook("traffic-hold", "confirm-traffic-increase", FIXED_TIMEOUTS["confirm-traffic-increase"],
                        ("strategy", "stepWeight" if "stepWeight" in spec["strategy"] else "steps")))
    out += [Hook("promotion-gate", "confirm-promotion", FIXED_TIMEOUTS["confirm-promotion"], policy),
            Hook("operator-abort", "rollback", FIXED_TIMEOUTS["rollback"], ("strategy",)),
            Hook("rollout-record", "post-rollout", FIXED_TIMEOUTS["post-rollout"], ("strategy",))]
    return out


def timeouts(spec: Mapping[str, Any]) -> dict[str, int]:
    """Each controller hook's timeout in seconds, by hook type (the controller's config carries it)."""
    return {hook.type: hook.timeout for hook in hooks(spec)}
