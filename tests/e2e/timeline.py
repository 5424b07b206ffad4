"""What Flagger did, as the API server shows it: every Canary's phase, weight, iterations and failed checks, polled
once a second, and the timelines the suite prints at the end (``make e2e``)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from tests.e2e.cluster import Cluster

REPORT: list[str] = []  # printed by conftest.pytest_terminal_summary


@dataclass(frozen=True)
class State:
    phase: str
    weight: int
    iterations: int
    failed: int


@dataclass
class Sample:
    at: float
    state: State


@dataclass
class CanaryWatch:
    """Polls ``kubectl get canaries -A`` every ``every`` seconds; keeps each change of each Canary's state."""

    cluster: Cluster
    every: float = 1.0
    changes: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> CanaryWatch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.time()
            result = self.cluster.kubectl("get", "canaries.flagger.app", "-A", "-o", "json", timeout=30)
            if result.returncode == 0:
                for item in json.loads(result.stdout).get("items", []):
                    status = item.get("status") or {}
                    state = State(str(status.get("phase", "")), int(status.get("canaryWeight") or 0),
                                  int(status.get("iterations") or 0), int(status.get("failedChecks") or 0))
                    key = (item["metadata"]["namespace"], item["metadata"]["name"])
                    with self._lock:
                        samples = self.changes.setdefault(key, [])
                        if not samples or samples[-1].state != state:
                            samples.append(Sample(started, state))
            self._stop.wait(max(0.0, self.every - (time.time() - started)))

    def history(self, namespace: str, name: str, since: float = 0.0) -> list[Sample]:
        with self._lock:
            return [s for s in self.changes.get((namespace, name), []) if s.at >= since]

    def current(self, namespace: str, name: str) -> State | None:
        with self._lock:
            samples = self.changes.get((namespace, name))
            return samples[-1].state if samples else None


def render_timeline(title: str, since: float, samples: list[Sample], notes: list[tuple[float, str]]) -> str:
    """``t+  12.3s  Progressing  weight  5  iterations 0  failedChecks 0`` lines, with notes interleaved."""
    rows = [(s.at, f"{s.state.phase or '-':<16} weight {s.state.weight:>3}  iterations {s.state.iterations:>2}  "
                   f"failedChecks {s.state.failed}") for s in samples]
    rows += [(at, f"  {text}") for at, text in notes]
    lines = [f"== {title}"]
    lines += [f"  t+{at - since:7.1f}s  {text}" for at, text in sorted(rows, key=lambda r: r[0])]
    return "\n".join(lines)
