"""Which controller webhooks a spec gets and what one analysis tick may take (rollouts.controller_hooks, shared by
the render and lint's gate-timeouts)."""

from __future__ import annotations

from typing import Any

from rollouts.controller_hooks import hooks, timeouts
from rollouts.lint.rules.gate_timeouts import tick


def spec(kind: str = "canary", **more: Any) -> dict[str, Any]:
    return {"strategy": {"type": kind, "interval": "30s"}, **more}


def test_a_spec_without_probes_or_judge_gets_no_rollout_call() -> None:
    assert [h.type for h in hooks(spec())] == ["confirm-rollout", "pre-rollout", "confirm-traffic-increase",
                                               "confirm-promotion", "rollback", "post-rollout"]
    assert "confirm-traffic-increase" not in timeouts(spec("blueGreen"))  # only the canary strategy calls it
    assert "confirm-traffic-increase" not in timeouts(spec("abTest"))


def test_the_rollout_call_waits_for_the_longest_probe_flow_or_the_judge() -> None:
    flows = {"flows": [{"steps": [{"latencyBudget": "500ms"}, {"latencyBudget": "2s"}]},
                       {"steps": [{"latencyBudget": "1s"}]}]}
    assert timeouts(spec(probes=flows))["rollout"] == 5  # 0.5 + 2 + 2 x 0.25 slack + 2 -> 5
    assert timeouts(spec(judge={"window": "5m"}))["rollout"] == 5
    assert "rollout" not in timeouts(spec(probes={"flows": []}))


def test_a_tick_is_the_rollback_and_rollout_calls_then_a_step_or_the_promotion() -> None:
    load = {"loadTest": {"timeout": "5s"}, "manualApproval": {"beforePromotion": True}}
    assert tick(spec("blueGreen", gates=load)) == [("operator-abort 2s", 2.0), ("load-test 5s", 5.0),
                                                   ("promotion-gate 3s", 3.0), ("approve-promotion 5s", 5.0)]
    # a canary's last step asks confirm-traffic-increase, then confirm-promotion, in one tick
    canary = {"strategy": {"type": "canary", "interval": "30s", "steps": [10, 50]}}
    assert tick(canary) == [("operator-abort 2s", 2.0), ("traffic-hold 2s", 2.0), ("promotion-gate 3s", 3.0)]
