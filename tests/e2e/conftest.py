"""The end-to-end suite: marked ``e2e``, left out of the normal run; ``make e2e`` (``pytest -m e2e tests/e2e``) runs
it on a real control plane (``cluster``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import CONTROL_PLANE, Cluster, bin_dir, find_bin, new_workdir

HERE = Path(__file__).resolve().parent


def _required() -> bool:
    # the same switch as tests/conftest.py: ROLLOUTS_REQUIRE_TOOLS=1 (or CI=true) turns skips into failures
    return os.environ.get("ROLLOUTS_REQUIRE_TOOLS") == "1" or os.environ.get("CI") == "true"


def missing(message: str) -> None:
    """Skip with ``message`` locally; fail under ROLLOUTS_REQUIRE_TOOLS=1."""
    if _required():
        pytest.fail(message)
    pytest.skip(message)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end on a real control plane (make e2e)")


@pytest.hookimpl(tryfirst=True)  # mark before pytest's own -m filter runs
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test here is ``e2e``; they run only when the marker expression asks for them (``-m e2e``)."""
    mine = [item for item in items if HERE in Path(str(item.fspath)).parents]
    for item in mine:
        item.add_marker(pytest.mark.e2e)
    if "e2e" not in (config.option.markexpr or ""):
        config.hook.pytest_deselected(items=mine)
        items[:] = [item for item in items if item not in mine]


@pytest.fixture(scope="session")
def e2e_bin() -> Path:
    absent = [name for name in CONTROL_PLANE if find_bin(name) is None]
    if absent:
        missing(f"e2e binaries missing from {bin_dir()}: {', '.join(absent)} (run scripts/e2e-build)")
    return bin_dir()


@pytest.fixture(scope="session")
def cluster(e2e_bin: Path) -> Iterator[Cluster]:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on 127.0.0.1 for the session."""
    if os.geteuid() != 0:
        missing("the e2e suite runs out-of-cluster controllers in their own mount namespace (unshare -m): needs root")
    workdir = new_workdir()
    cluster = Cluster(workdir)
    try:
        cluster.up()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(workdir / "etcd", ignore_errors=True)
        print(f"\ne2e scratch directory (logs): {workdir}")


@pytest.fixture(scope="session")
def crds(cluster: Cluster, shared: Path) -> list[Path]:
    """Every CRD of ../shared/crds (cert-manager, Flux, Flagger, Gateway API, Linkerd, ...), server-side applied
    (client-side apply hits the annotation size limit on the large ones), and Established."""
    files = sorted(p for p in (shared / "crds").rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    result = cluster.kubectl("apply", "--server-side", "--force-conflicts", "-R", "-f", str(shared / "crds"),
                             timeout=300)  # -R reads .yaml/.yml/.json only: linkerd's helm-templates/*.tpl stay out
    assert result.returncode == 0, f"CRDs of {shared / 'crds'} refused:\n{result.stderr}"
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s", check=True,
                    timeout=150)
    return files


@pytest.fixture(scope="session")
def need_bin(e2e_bin: Path) -> Callable[[str], str]:
    """need_bin("flagger") -> its path; skipped (failed under ROLLOUTS_REQUIRE_TOOLS=1) when absent."""

    def get(name: str) -> str:
        path = find_bin(name)
        if path is None:
            missing(f"{name} not found in {bin_dir()} or on PATH (scripts/e2e-build, .ci/setup)")
        assert path is not None
        return path

    return get


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.e2e.timeline import REPORT

    if REPORT:
        terminalreporter.section("e2e: Canary timelines, measured vs Flagger's formulas")
        for block in REPORT:
            terminalreporter.write_line(block)
