"""The lab's demos run to completion as ``make demo-*`` runs them (``python -m tests.e2e.lab NAME``), all three at
once (each has its own control plane and loopback addresses), with every strategy.interval at LAB_INTERVAL: each
prints its timeline as it goes and ends in the outcome it shows (promoted, rolled back, promoted), having stopped
every process it started and removed its scratch directory. The kubectl commands of docs/lab.md parse with the
real kubectl."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import missing
from tests.e2e.lab import DEMOS, INTERVAL_ENV
from tests.e2e.timeline import REPORT
from tests.runbook_commands import commands
from tests.test_lab import LAB

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LAB_INTERVAL = "20s"  # the product's lint refuses 10s for these specs: one tick's webhooks may take longer


@pytest.fixture(scope="module")
def demos(need_bin: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Each demo's output, the three run side by side."""
    need_bin("flagger")
    need_bin("prometheus")
    if os.geteuid() != 0:
        missing("the lab runs Flagger in its own mount namespace (unshare -m): needs root")
    logs = tmp_path_factory.mktemp("lab")
    env = {**os.environ, INTERVAL_ENV: LAB_INTERVAL}
    env.pop("ROLLOUTS_LAB_KEEP", None)
    running = {}
    for name in DEMOS:
        with open(logs / f"{name}.log", "wb") as out:
            running[name] = subprocess.Popen([sys.executable, "-m", "tests.e2e.lab", name], cwd=ROOT, env=env,
                                             stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        codes = {name: process.wait(timeout=1500) for name, process in running.items()}
    finally:
        for process in running.values():
            if process.poll() is None:
                os.killpg(process.pid, 15)
                process.wait(timeout=60)
    outputs = {name: (logs / f"{name}.log").read_text(errors="replace") for name in DEMOS}
    for name, text in outputs.items():
        REPORT.append(f"== make demo-{name} (exit {codes[name]}, {INTERVAL_ENV}={LAB_INTERVAL})\n{text}")
    yield {name: f"exit {codes[name]}\n{text}" for name, text in outputs.items()}


def timeline(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("  t+")]


def stopped_everything(output: str) -> None:
    pids = re.search(r"stopped every process it started \(pids ([\d ]+)\)", output)
    assert pids, output[-3000:]
    alive = [pid for pid in map(int, pids.group(1).split()) if Path(f"/proc/{pid}").exists()]
    assert not alive, f"still running after the demo: {alive}"
    scratch = re.search(r"removed (/\S+)", output)
    assert scratch and not Path(scratch.group(1)).exists(), output[-2000:]


def test_demo_success_promotes_the_canary_and_prints_its_timeline(demos: dict[str, str]) -> None:
    output = demos["success"]
    assert output.startswith("exit 0\n"), output[-4000:]
    rows = timeline(output)
    assert "rollouts plan:" in output and "checkout in staging: canary, one tick every 20s" in output
    for weight in (5, 25, 50):
        assert any(f"Progressing      weight {weight:>3}%" in row for row in rows), rows
    assert any("success-rate 100 (min 99) ok" in row for row in rows), rows
    assert any("Flagger: Promotion completed!" in row for row in rows), rows
    assert "== outcome: Succeeded (promoted)" in output
    assert "rollouts plan: time to promotion 2m00s (6 ticks of 20s)" in output
    stopped_everything(output)


def test_demo_failure_rolls_the_canary_back_after_its_failed_checks(demos: dict[str, str]) -> None:
    output = demos["failure"]
    assert output.startswith("exit 0\n"), output[-4000:]
    rows = timeline(output)
    assert any("failed checks 1/2" in row and "FAIL" in row for row in rows), rows
    assert any("latency-p99 9" in row and "(max 500) FAIL" in row for row in rows), rows
    assert any("Flagger warning: Halt checkout.shop-staging advancement" in row for row in rows), rows
    assert "== outcome: Failed (rolled back)" in output
    assert "rollouts plan: 40s (threshold 2 x 20s" in output
    stopped_everything(output)


def test_demo_ab_runs_its_iterations_then_promotes(demos: dict[str, str]) -> None:
    output = demos["ab"]
    assert output.startswith("exit 0\n"), output[-4000:]
    rows = timeline(output)
    assert "frontend in staging: abTest" in output
    for iteration in (1, 2, 3):
        assert any(f"iteration  {iteration}/3" in row for row in rows), rows
    assert any("latency-p95" in row for row in rows), rows
    assert "== outcome: Succeeded (promoted)" in output
    assert "rollouts plan: time to promotion 2m00s (6 ticks of 20s)" in output
    stopped_everything(output)


def test_every_kubectl_command_of_the_lab_parses(need_bin: Callable[[str], str]) -> None:
    kubectl = need_bin("kubectl")
    checked = [c for c in commands(LAB.read_text(encoding="utf-8")) if c[0] == "kubectl"]
    assert len(checked) >= 5
    for command in checked:
        done = subprocess.run([kubectl, *command[1:], "--help"], capture_output=True, text=True, timeout=30,
                              check=False)
        assert done.returncode == 0, f"{' '.join(command)}: {done.stderr}"
        assert "Usage:" in done.stdout, command
