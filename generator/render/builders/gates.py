"""The Canary's webhooks, in the order Flagger calls them: the analysis controller's guardrails
(rollouts.controller_hooks), and the manual approvals, helm test, acceptance and load tests run by Flagger's load
tester (flagger-loadtester in flagger-system); of one hook type, the controller's comes first."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ... import controller_hooks
from ..model import Service

if TYPE_CHECKING:
    from ...spec.types import ManualApproval

LOADTESTER = "http://flagger-loadtester.flagger-system/"
APPROVAL: tuple[str, ...] = ("gates", "manualApproval")
CLOSE: tuple[str, ...] = (*APPROVAL, "closeAfterRollout")
GATE = f"{controller_hooks.GATE_TIMEOUT}s"


def substitute_canary_url(cmd: str, url: str) -> str:
    """An acceptance test may write CANARY_URL for the canary Service's URL."""
    return cmd.replace("CANARY_URL", url)


def per_worker_rate(rps: int, concurrency: int) -> str:
    """hey's -q is the rate of each of the -c workers (a float, rakyll/hey hey.go), so the total is rps when each
    worker gets rps / concurrency: 15 rps over 2 workers is -q 7.5 (never rounded up to 8, i.e. 16 rps)."""
    share = Fraction(rps, concurrency)
    return str(share.numerator) if share.denominator == 1 else f"{float(share):.6g}"


def _hook(name: str, kind: str, url: str, origin: tuple[str, ...], timeout: str | None = None,
          metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "type": kind, "url": url, "timeout": timeout, "metadata": metadata or {}, "origin": origin}


ORDER = ("confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase", "confirm-promotion", "rollback",
         "post-rollout")


def webhooks(svc: Service) -> list[dict[str, Any]]:
    """Each webhook with its origin (a path under ``spec``)."""
    ours = [_hook(h.name, h.type, h.url, h.origin, f"{h.timeout}s") for h in controller_hooks.hooks(svc.spec)]
    theirs = loadtester_webhooks(svc)
    return sorted(ours + theirs, key=lambda hook: ORDER.index(hook["type"]))  # stable: ours first in each type


def loadtester_webhooks(svc: Service) -> list[dict[str, Any]]:
    """The webhooks Flagger's load tester answers."""
    gates = svc.spec.get("gates") or {}
    approval: ManualApproval | dict[str, Any] = gates.get("manualApproval") or {}
    runbook = {"runbook": approval["runbook"]} if approval.get("runbook") else {}
    before_rollout, before_promotion = approval.get("beforeRollout"), approval.get("beforePromotion")
    # The loadtester keeps a gate open until it is closed (pkg/loadtester/gate.go, keyed <name>.<namespace> from
    # the webhook payload): close it after every rollout, and between the two approvals when both are asked for.
    closing = bool(before_rollout or before_promotion) and bool(approval["closeAfterRollout"])
    hooks = []
    if before_rollout:
        hooks.append(_hook("approve-rollout", "confirm-rollout", LOADTESTER + "gate/check", APPROVAL, GATE,
                           metadata=runbook))
    if closing and before_rollout and before_promotion:
        hooks.append(_hook("close-gate-for-promotion", "pre-rollout", LOADTESTER + "gate/close", CLOSE, GATE))
    helm_test = gates.get("helmTest")
    if helm_test is not None:
        hooks.append(_hook("helm-test", "pre-rollout", LOADTESTER, ("gates", "helmTest"), helm_test["timeout"],
                           {"type": "helmv3", "cmd": f"test {svc.name} -n {svc.namespace}"}))
    if "acceptanceTest" in gates:
        test = gates["acceptanceTest"]
        hooks.append(_hook("acceptance-test", "pre-rollout", LOADTESTER, ("gates", "acceptanceTest"), test["timeout"],
                           {"type": "bash", "cmd": substitute_canary_url(str(test["cmd"]), svc.canary_url)}))
    if "loadTest" in gates:
        load = gates["loadTest"]
        rps, concurrency = int(load["rps"]), int(load["concurrency"])
        cmd = (f"hey -z {svc.spec['strategy']['interval']} -q {per_worker_rate(rps, concurrency)} -c {concurrency} "
               f"{svc.canary_url}{load['path']}")
        hooks.append(_hook("load-test", "rollout", LOADTESTER, ("gates", "loadTest"), load["timeout"],
                           {"cmd": cmd}))
    if before_promotion:
        hooks.append(_hook("approve-promotion", "confirm-promotion", LOADTESTER + "gate/check", APPROVAL, GATE,
                           metadata=runbook))
    if closing:
        hooks.append(_hook("close-gate", "post-rollout", LOADTESTER + "gate/close", CLOSE, GATE))
    return hooks
