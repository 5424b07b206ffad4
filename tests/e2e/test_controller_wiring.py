"""Manual approval end to end through the controller's HTTP app and a real kube-apiserver (the ``plane`` of
tests/e2e/test_controller_state.py: etcd + kube-apiserver only): Flagger's confirm-promotion is denied until
``rollouts approve`` (the click command, the user's kubeconfig) approves the waiting revision, then allowed; the
post-rollout of the Succeeded revision consumes the approval (in a background task after the answer: polled), so
the same revision needs a new approval."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from rollouts.controller.app import Settings
from rollouts.controller.state import StateStore

from tests.controller.controller_server import config_doc, flagger_payload, running
from tests.e2e.test_controller_state import ENV, ControlPlane, cli, configmap_data, creds, plane

__all__ = ["plane"]


def promotion(base: str, checksum: str, phase: str = "WaitingPromotion", hook: str = "confirm-promotion"
              ) -> httpx.Response:
    return httpx.post(f"{base}/webhooks/{hook}", content=flagger_payload("checkout", "shop", phase, checksum),
                      headers={"Content-Type": "application/json"}, timeout=15)


def approvals(plane: ControlPlane) -> list[dict[str, str]]:
    entry: dict[str, list[dict[str, str]]] = configmap_data(plane).get("shop.checkout", {})
    return entry.get("approvals", [])


def test_approval_gates_confirm_promotion_until_approved_and_is_consumed_by_its_revision(
        plane: ControlPlane, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(config_doc({"shop/checkout": {"service": "checkout",
                                                               "approval": {"required": True}}}, ENV)))
    store = StateStore.connect(creds(plane), timeout=5)
    with running(Settings(config=str(config), poll_interval=0, store=store)) as base:
        waiting = promotion(base, "rev-w")
        assert (waiting.status_code, waiting.text) == (403, "revision rev-w of shop/checkout waits for approval: "
                                                            "rollouts approve checkout --env production")

        approved = cli(plane, "approve", "shop/checkout", "--reason", "QA signed off")  # the waiting revision
        assert approved.exit_code == 0, approved.output + repr(approved.exception)
        assert approved.output == "approved revision rev-w of shop/checkout in production: QA signed off\n"

        allowed = promotion(base, "rev-w")
        assert allowed.status_code == 200, allowed.text
        assert allowed.text.startswith("not held; errorBudget not configured; revision rev-w approved by admin at ")
        assert allowed.text.endswith(": QA signed off")
        other = promotion(base, "rev-other")
        assert other.status_code == 403 and "revision rev-other of shop/checkout waits for approval" in other.text

        done = promotion(base, "rev-w", phase="Succeeded", hook="post-rollout")
        assert (done.status_code, done.text) == (200, "accepted")
        deadline = time.monotonic() + 20
        while any(a.get("checksum") == "rev-w" for a in approvals(plane)):
            assert time.monotonic() < deadline, "the approval of rev-w was not consumed after post-rollout"
            time.sleep(0.2)

        again = promotion(base, "rev-w")
    assert again.status_code == 403  # consumed: the same revision back again (a revert) needs a new approval
    assert again.text == "revision rev-w of shop/checkout waits for approval: rollouts approve checkout --env " \
                         "production"
