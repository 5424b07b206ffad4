"""The lab (docs/lab.md): one example service released on a real control plane with real Flagger and Prometheus,
its timeline printed live until Flagger promotes or rolls it back.

    python -m tests.e2e.lab success|failure|ab      (make demo-success, make demo-failure, make demo-ab)

- ``success``: checkout in staging (a canary, weights 5 -> 25 -> 50), healthy pods: promoted.
- ``failure``: the same release with 30% errors and 900 ms latency: the automated abort rolls it back.
- ``ab``: frontend in staging (an A/B test: the insiders' header or cookie, a bounded number of iterations),
  healthy: promoted after its iterations.

Each demo starts its own control plane (tests/e2e/cluster.py) and the Flagger environment of tests/e2e/harness.py
for that one service, on its own loopback addresses (so the three can run at once), with every
``strategy.interval`` set to ROLLOUTS_LAB_INTERVAL (default 30s). The analysis controller runs as
``rollouts controller serve`` from this venv (the code its image runs; no podman, no image build). At the end it
stops every process it started and removes its scratch directory (ROLLOUTS_LAB_KEEP=1 keeps the directory, with
the logs). Exit status: 0 when the outcome is the one the demo shows, 1 otherwise, 130 when interrupted.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from rollouts.keys import write_key_pair
from rollouts.render.plan import text as plan_text

from tests.e2e.cluster import Cluster, Process, bin_dir, free_port, wait_for
from tests.e2e.harness import (
    ROLLOUTS,
    Addresses,
    Env,
    Outcome,
    Scenario,
    StartController,
    apply_crds,
    events,
    rollout_env,
    run,
    set_change_windows,
)
from tests.e2e.timeline import Sample
from tests.e2e.tree import ROOT, copy_project, render, seconds

INTERVAL_ENV = "ROLLOUTS_LAB_INTERVAL"
KEEP_ENV = "ROLLOUTS_LAB_KEEP"


@dataclass(frozen=True)
class Demo:
    name: str
    title: str
    service: str
    environment: str
    scenario: Scenario
    expect: str  # the phase the demo ends in: Succeeded or Failed
    block: str  # its loopback addresses (harness.Addresses)


DEMOS = {d.name: d for d in (
    Demo("success", "canary with automated abort: a healthy release is promoted", "checkout", "staging",
         Scenario("canary, healthy", "shop-staging", "checkout", "1.4.3"), "Succeeded", "127.0.10"),
    Demo("failure", "canary with automated abort: a release with 30% errors and 900 ms latency is rolled back",
         "checkout", "staging", Scenario("canary, 30% errors, 900 ms", "shop-staging", "checkout", "1.4.3",
                                         errors=0.3, latency_ms=900), "Failed", "127.0.11"),
    Demo("ab", "a bounded A/B experiment: insiders get the new version for a fixed number of iterations, "
         "judged by its success metrics, then everyone does", "frontend", "staging",
         Scenario("A/B, healthy", "shop-staging", "frontend", "3.12.1"), "Succeeded", "127.0.12"),
)}


def shared() -> Path:
    """The shared test data (its CRDs): $ROLLOUTS_SHARED, else ../shared beside the project."""
    return Path(os.environ.get("ROLLOUTS_SHARED") or ROOT.parent / "shared")


# -- the analysis controller, from this venv -----------------------------------------------------------------


@dataclass
class ServedController:
    url: str
    data: Path
    public_key: Path
    volumes: dict[str, str]
    process: Process


def served(cluster: Cluster) -> StartController:
    """``rollouts controller serve`` as the rendered StatefulSet's first pod runs it (its config per environment,
    a signing key, evidence and outbox, a token of its ServiceAccount), a process of ``cluster`` in a mount
    namespace with its own /etc/hosts."""

    @contextlib.contextmanager
    def start(directory: Path, configs: dict[str, str], host: str, port: int, hosts: Path,
              kubeconfig: Path) -> Iterator[ServedController]:
        volumes = {}
        for environment, text in configs.items():
            config = directory / "config" / environment
            config.mkdir(parents=True)
            (config / "config.json").write_text(text, encoding="utf-8")
            volumes[f"config-{environment}"] = str(config)
        data, secrets = directory / "data", directory / "secrets"
        data.mkdir()
        secrets.mkdir()
        private, public = write_key_pair(str(directory / "signing"), b"")
        argv = [ROLLOUTS, "controller", "serve", "--config", str(directory / "config"), "--listen", f"{host}:{port}",
                "--operator-listen", f"{host}:{free_port(host)}", "--evidence", str(data / "evidence"),
                "--evidence-key", private, "--outbox", str(data / "outbox"), "--secrets", str(secrets),
                "--kubeconfig", str(kubeconfig)]
        process = cluster.start("analysis-controller", argv, hosts=hosts,
                                env={"COSIGN_PASSWORD": "", "ROLLOUTS_REPLICA": "analysis-controller-0"})
        controller = ServedController(f"http://{host}:{port}", data, Path(public), volumes, process)

        def healthy() -> bool:
            cluster.check_alive()
            try:
                with urllib.request.urlopen(f"{controller.url}/healthz", timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        try:
            wait_for("the analysis controller's /healthz", healthy, timeout=60)
            yield controller
        finally:
            cluster.stop(process)

    return start


# -- the live timeline --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One metric of the Canary's analysis, as Flagger asks it: the MetricTemplate's query with the variables."""

    name: str
    url: str  # the Prometheus query API the template names, at its loopback address
    query: str
    low: float | None
    high: float | None

    def judge(self, value: float | None) -> str:
        if value is None:
            return f"{self.name} no data ({self.bound()}) FAIL"
        failed = (self.low is not None and value < self.low) or (self.high is not None and value > self.high)
        return f"{self.name} {value:.4g} ({self.bound()}) {'FAIL' if failed else 'ok'}"

    def bound(self) -> str:
        return " ".join(([f"min {self.low:g}"] if self.low is not None else [])
                        + ([f"max {self.high:g}"] if self.high is not None else []))


_VARIABLE = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")


def fill(query: str, values: dict[str, str]) -> str:
    """``{{ namespace }}``, ``{{ variables.direction }}``... of a MetricTemplate's query replaced by ``values``."""
    return _VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), query)


def checks(env: Env, canary: dict[str, Any]) -> list[Check]:
    """The Canary's metrics with their MetricTemplates rendered as Flagger renders them (name, namespace, target,
    interval, variables.*)."""
    analysis, namespace = canary["spec"]["analysis"], canary["metadata"]["namespace"]
    templates = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in env.objects
                 if o["kind"] == "MetricTemplate"}
    hosts = env.addresses.hosts()
    out = []
    for metric in analysis.get("metrics", []):
        ref = metric.get("templateRef")
        if not ref:
            continue
        template = templates[(ref.get("namespace", namespace), ref["name"])]
        values = {"name": canary["metadata"]["name"], "namespace": namespace,
                  "target": canary["spec"]["targetRef"]["name"], "service": canary["spec"]["targetRef"]["name"],
                  "interval": metric.get("interval") or analysis["interval"]}
        values |= {f"variables.{k}": str(v) for k, v in (metric.get("templateVariables") or {}).items()}
        query = fill(template["spec"]["query"], values)
        address = urllib.parse.urlsplit(template["spec"]["provider"]["address"])
        url = f"http://{hosts[str(address.hostname)]}:{address.port or 80}/api/v1/query"
        bounds = metric.get("thresholdRange") or {}
        out.append(Check(metric["name"], url, query, bounds.get("min"), bounds.get("max")))
    return out


def value(check: Check) -> float | None:
    """The query's value now (None when Prometheus has no series: Flagger's "no values found")."""
    try:
        with urllib.request.urlopen(f"{check.url}?{urllib.parse.urlencode({'query': check.query})}",
                                    timeout=5) as response:
            result = json.load(response)["data"]["result"]
    except (OSError, ValueError, KeyError):
        return None
    if not result:
        return None
    number = float(result[0]["value"][1])
    return None if math.isnan(number) else number


@dataclass
class Timeline:
    """Prints, as they happen: each change of the Canary's state (phase, weight or iteration, failed checks) with
    every check's value against its bound; Flagger's events; the demo's own notes."""

    env: Env
    canary: dict[str, Any]
    out: TextIO
    checks: list[Check] = field(default_factory=list)
    rows: int = 0
    seen: set[tuple[float, str, str]] = field(default_factory=set)
    notes: int = 0

    def __post_init__(self) -> None:
        self.checks = checks(self.env, self.canary)

    @property
    def iterations(self) -> int:
        return int(self.canary["spec"]["analysis"].get("iterations") or 0)

    @property
    def threshold(self) -> int:
        return int(self.canary["spec"]["analysis"].get("threshold") or 1)

    def line(self, at: float, trigger: float, text: str) -> None:
        self.out.write(f"  t+{at - trigger:6.1f}s  {text}\n")
        self.out.flush()

    def state(self, sample: Sample) -> str:
        s = sample.state
        progress = (f"iteration {s.iterations:>2}/{self.iterations}" if self.iterations
                    else f"weight {s.weight:>3}%")
        verdicts = " | ".join(c.judge(value(c)) for c in self.checks)
        return f"{s.phase or '-':<16} {progress}  failed checks {s.failed}/{self.threshold}  {verdicts}"

    def __call__(self, trigger: float, history: list[Sample], notes: list[tuple[float, str]]) -> None:
        for at, text in notes[self.notes:]:
            self.line(at, trigger, f"release: {text}")
        self.notes = len(notes)
        for sample in history[self.rows:]:
            self.line(sample.at, trigger, self.state(sample))
        self.rows = len(history)
        namespace, name = self.canary["metadata"]["namespace"], self.canary["metadata"]["name"]
        try:
            found = events(self.env.cluster, namespace, name, trigger)
        except AssertionError:  # the API server did not answer this once: the next call catches up
            return
        for event in found:
            if event not in self.seen:
                self.seen.add(event)
                at, kind, message = event
                message = message.removeprefix("(combined from similar events): ")  # the API server's aggregation
                self.line(at, trigger, f"Flagger{' warning' if kind == 'Warning' else ''}: {message}")


def _took(value: float) -> str:
    minutes, rest = divmod(round(value), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def summary(demo: Demo, outcome: Outcome) -> list[str]:
    """The outcome, how long it took, and what `rollouts plan` said it would take."""
    lines = []
    plan = outcome.plan
    assert plan is not None
    took = (outcome.end or time.time()) - outcome.trigger
    phase = outcome.phase or "-"
    what = {"Succeeded": "promoted", "Failed": "rolled back"}.get(phase, "did not finish")
    lines.append(f"== outcome: {phase} ({what}) {_took(took)} after the release "
                 f"(the demo expects {demo.expect})")
    if phase == "Succeeded" and outcome.progressing is not None and outcome.end is not None:
        planned = plan.figure("time to promotion")
        lines.append(f"   from Progressing to Succeeded: {_took(outcome.end - outcome.progressing)}; rollouts plan: "
                     f"time to promotion {_took(planned)} ({round(planned / plan.interval)} ticks of "
                     f"{plan.interval:g}s)")
    if phase == "Failed" and outcome.first_failed_check is not None and outcome.end is not None:
        planned = plan.figure("time to rollback after the first failed check")
        worst = plan.figure("worst case from the first bad request to rollback")
        lines.append(f"   first failed check {_took(outcome.first_failed_check - outcome.trigger)} after the release, "
                     f"rolled back {_took(outcome.end - outcome.first_failed_check)} after it; rollouts plan: "
                     f"{_took(planned)} (threshold {round(planned / plan.interval)} x {plan.interval:g}s; at worst "
                     f"{_took(worst)} from the first bad request)")
    halts = sorted({m for m in outcome.warnings() if m.startswith("Halt")})
    lines += [f"   Flagger: {m}" for m in halts[:5]]
    return lines


# -- the demo -----------------------------------------------------------------------------------------------------


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_demo(demo: Demo, interval: str, out: TextIO) -> Outcome:
    """The whole demo: a control plane, the service on Flagger, the release followed to its end, everything
    stopped and removed."""
    workdir = Path(tempfile.mkdtemp(prefix=f"rollouts-lab-{demo.name}-"))
    cluster = Cluster(workdir)
    began = time.time()

    def say(text: str) -> None:
        out.write(f"[{time.time() - began:5.1f}s] {text}\n")
        out.flush()

    try:
        say(f"lab {demo.name}: {demo.title}")
        say(f"scratch directory {workdir}; strategy.interval {interval} ({INTERVAL_ENV})")
        say("starting the control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok")
        cluster.up()
        apply_crds(cluster, shared())
        say(f"while it runs: export KUBECONFIG={cluster.kubeconfig} PATH={bin_dir()}:$PATH")
        project = copy_project(workdir / "project", interval)
        for other in (project / "services").iterdir():  # the lab renders its one service
            if other.name != demo.service:
                shutil.rmtree(other)
        set_change_windows(project)
        rendered = render(project)
        say(f"rendered {demo.service} ({demo.environment}); starting Prometheus, the fakes, the analysis "
            "controller and Flagger")
        with rollout_env(cluster, rendered, project, workdir / "env", served(cluster), Addresses(demo.block),
                         {(demo.environment, demo.service)}) as env:
            key = (demo.scenario.namespace, demo.scenario.name)
            say(f"{key[0]}/{key[1]} Initialized: Flagger made {key[1]}-primary and routes all traffic to it")
            out.write("\nrollouts plan:\n" + plan_text([env.plans[key]]) + "\n")
            out.write(f"== timeline of {key[0]}/{key[1]}: {demo.scenario.label}\n")
            outcome = run(env, demo.scenario, timeout=60 * seconds(interval),
                          progress=Timeline(env, env.canaries[key], out))
            out.write("\n".join(summary(demo, outcome)) + "\n")
            say("stopping: the Canary deleted, then Flagger, the controller, Prometheus and the control plane")
        return outcome
    finally:
        cluster.stop()
        pids = workdir / "pids"
        started = pids.read_text(encoding="utf-8").split() if pids.exists() else []
        say(f"stopped every process it started (pids {' '.join(started[::2])})")
        if os.environ.get(KEEP_ENV) == "1":
            say(f"kept {workdir} ({KEEP_ENV}=1)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            say(f"removed {workdir}")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in DEMOS:
        print(f"usage: python -m tests.e2e.lab {{{'|'.join(DEMOS)}}}", file=sys.stderr)
        return 2
    demo = DEMOS[argv[0]]
    if os.geteuid() != 0:
        print("the lab runs Flagger and the controller in mount namespaces of their own (unshare -m): run it as "
              "root", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        outcome = run_demo(demo, os.environ.get(INTERVAL_ENV) or "30s", sys.stdout)
    except KeyboardInterrupt:
        print("interrupted: everything the demo started is stopped", file=sys.stderr)
        return 130
    return 0 if outcome.phase == demo.expect else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
