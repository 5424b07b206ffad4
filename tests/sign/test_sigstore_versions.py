"""sigstore-python through one adapter on its public API, against the oldest and the newest release that
pyproject.toml allows: .ci/setup --tests installs each into $VENV/sigstore-versions/<version> (pip --target, with
its dependencies), and the sign and verify tests that reach sigstore run again in a subprocess with that directory
first on sys.path. Offline: only .ci/setup downloads."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
VERSIONS_DIR = Path(sys.executable).parent.parent / "sigstore-versions"  # $VENV/sigstore-versions
ADAPTER = "sigstore_api.py"
# The tests whose code paths reach sigstore: the signature layer against real bundles (default and explicit trusted
# roots, every failure kind), keyless signing up to a fake Fulcio (client errors, OIDC), the signer of a bundle.
SUITES = ["tests/sign/test_vectors.py", "tests/sign/test_keyless.py"]


def setup_versions() -> list[str]:
    """The versions .ci/setup installs: its SIGSTORE_VERSIONS=(...) line."""
    match = re.search(r"^\s*SIGSTORE_VERSIONS=\(([^)]*)\)", (ROOT / ".ci" / "setup").read_text(), re.MULTILINE)
    assert match, ".ci/setup has no SIGSTORE_VERSIONS=(...) line"
    return match.group(1).split()


def constraint() -> Requirement:
    text = (ROOT / "pyproject.toml").read_text()
    line = re.search(r'^\s*"(sigstore[<>=!~ ].*)",\s*$', text, re.MULTILINE)
    assert line, "pyproject.toml declares no sigstore dependency"
    return Requirement(line.group(1))


def test_versions_are_the_oldest_and_newest_the_constraint_allows() -> None:
    versions = [Version(v) for v in setup_versions()]
    spec = constraint().specifier
    assert len(versions) == 2 and versions[0] < versions[1], versions
    assert all(spec.contains(v) for v in versions), (spec, versions)
    lower = [Version(s.version) for s in spec if s.operator == ">="]
    assert lower and versions[0] == lower[0], f"the oldest tested sigstore {versions[0]} is not the bound in {spec}"
    assert any(s.operator == "<" for s in spec), f"{spec} has no upper bound: the newest tested cannot be the newest"


def _sigstore_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [(node.lineno, n) for n in names if n == "sigstore" or n.startswith("sigstore.")]
    return found


def test_only_the_adapter_imports_sigstore_and_only_its_public_modules() -> None:
    outside = []
    for path in sorted((ROOT / "generator").rglob("*.py")):
        imports = _sigstore_imports(path)
        if path.name == ADAPTER and path.parent.name == "generator":
            assert imports, "the adapter imports no sigstore module"
            private = [f"{n} (line {line})" for line, n in imports if any(p.startswith("_") for p in n.split("."))]
            assert not private, f"the adapter imports sigstore's private modules: {private}"
            tree = ast.parse(path.read_text())
            docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
            strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                       and id(n) not in docstrings]
            private_names = [t for t in strings if "_internal" in t or "_store" in t
                             or (t.startswith("_") and not t.startswith("__"))]
            assert not private_names, f"a private module, path or attribute by name: {private_names}"
            underscored = [f"{n.attr} (line {n.lineno})" for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                           and n.attr.startswith("_") and not n.attr.startswith("__")]
            assert not underscored, f"the adapter reads private attributes: {underscored}"
        else:
            outside += [f"{path.relative_to(ROOT)}:{line}: {n}" for line, n in imports]
    assert not outside, f"only generator/{ADAPTER} may import sigstore: {outside}"


@pytest.mark.parametrize("version", setup_versions())
def test_sign_and_verify_against_sigstore(version: str, tmp_path: Path, shared: Path) -> None:
    target = VERSIONS_DIR / version
    if not (target / ".installed").exists():
        message = f"sigstore {version} is not installed in {target} (bash .ci/setup --tests installs it)"
        if os.environ.get("ROLLOUTS_REQUIRE_TOOLS") == "1" or os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]).rstrip(
        os.pathsep), "XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_DATA_HOME": str(tmp_path / "data"),
           "ROLLOUTS_SHARED": str(shared)}
    probe = subprocess.run([sys.executable, "-c", "import sigstore; print(sigstore.__version__, sigstore.__file__)"],
                           env=env, capture_output=True, text=True, timeout=120, check=False)
    assert probe.returncode == 0, probe.stderr
    found, where = probe.stdout.split()
    assert found == version and Path(where).is_relative_to(target), probe.stdout
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=1500, check=False)
    assert out.returncode == 0, f"sigstore {version}:\n{out.stdout[-6000:]}\n{out.stderr[-2000:]}"
    summary = out.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary, out.stdout[-500:]
