"""Sign and verify a real render of the example services: any single-byte change to any file of one service's
rendered directories is caught, and it names that file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rollouts.keys import load_public_key
from rollouts.sign import sign_tree
from rollouts.verify import Policy, verify_tree

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "checkout"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, key_pair: tuple[str, str]) -> Path:
    """A copy of the examples rendered with the real renderer and signed with the test key."""
    import os

    from rollouts.project import load_project
    from rollouts.render import render, write_tree

    repo = tmp_path_factory.mktemp("example")
    shutil.copytree(ROOT / "services", repo / "services")
    project = load_project(str(repo))
    result = render(project)
    assert result.ok, result.findings
    write_tree(project, result)
    from .conftest import PASSWORD

    old = os.environ.get("COSIGN_PASSWORD")
    os.environ["COSIGN_PASSWORD"] = PASSWORD  # module scope: monkeypatch is per test
    try:
        sign_tree(str(repo / "flux"), str(repo), key_path=key_pair[0])
    finally:
        if old is None:
            del os.environ["COSIGN_PASSWORD"]
        else:
            os.environ["COSIGN_PASSWORD"] = old
    return repo


def service_files(repo: Path) -> list[Path]:
    files = sorted(p for env in ("production", "staging") for p in (repo / "flux/apps" / env / SERVICE).rglob("*")
                   if p.is_file())
    assert len(files) >= 10
    return files


def check(repo: Path, policy: Policy) -> list[tuple[str, str]]:
    return [(f.rule, f.file) for f in verify_tree(str(repo / "flux"), policy, str(repo)).findings]


def test_clean_render_verifies(rendered: Path, key_pair: tuple[str, str]) -> None:
    result = verify_tree(str(rendered / "flux"), Policy(public_key=load_public_key(key_pair[1])), str(rendered))
    assert result.findings == []
    assert result.files > 50


def test_single_byte_changes_in_one_service(rendered: Path, key_pair: tuple[str, str]) -> None:
    """Every file of the service's rendered directories; in each, the first and last byte and every 37th byte
    in between (a sample: checking all ~20,000 positions would take minutes; the property test covers the rest)."""
    policy = Policy(public_key=load_public_key(key_pair[1]))
    checked = 0
    for path in service_files(rendered):
        original = path.read_bytes()
        rel = path.relative_to(rendered).as_posix()
        positions = sorted({0, len(original) - 1, *range(0, len(original), 37)})
        try:
            for i in positions:
                changed = bytearray(original)
                changed[i] ^= 0x01
                path.write_bytes(bytes(changed))
                assert check(rendered, policy) == [("file-changed", rel)], (rel, i)
                checked += 1
        finally:
            path.write_bytes(original)
    assert checked > 500  # about 20,000 bytes / 37
    assert check(rendered, policy) == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_any_byte_of_any_service_file(rendered: Path, key_pair: tuple[str, str], data: st.DataObject) -> None:
    policy = Policy(public_key=load_public_key(key_pair[1]))
    path = data.draw(st.sampled_from(service_files(rendered)))
    original = path.read_bytes()
    i = data.draw(st.integers(0, len(original) - 1))
    new_byte = data.draw(st.integers(0, 255).filter(lambda b: b != original[i]))
    changed = bytearray(original)
    changed[i] = new_byte
    path.write_bytes(bytes(changed))
    try:
        assert check(rendered, policy) == [("file-changed", path.relative_to(rendered).as_posix())]
    finally:
        path.write_bytes(original)
