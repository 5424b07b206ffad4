"""Fixtures for sign/verify/commit: key pairs made by the tests, small trees, the shared Sigstore vectors."""

from __future__ import annotations

from pathlib import Path

import pytest

PASSWORD = "correct horse battery staple"
GHA = "https://token.actions.githubusercontent.com"
BEACON = ("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
          ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main")


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    for name in ("GITHUB_ACTIONS", "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def _sigstore_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sigstore-home")


@pytest.fixture(autouse=True)
def _sigstore_cache(monkeypatch: pytest.MonkeyPatch, _sigstore_home: Path) -> None:
    """sigstore-python's TUF cache (the default trusted root, offline) in a directory of the test session, seeded
    from the installed sigstore: never the user's, and never one an older or newer sigstore wrote."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(_sigstore_home / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(_sigstore_home / "data"))


@pytest.fixture(scope="session")
def key_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(cosign.key, cosign.pub) generated once per session with PASSWORD."""
    from rollouts.keys import write_key_pair

    prefix = str(tmp_path_factory.mktemp("keys") / "cosign")
    return write_key_pair(prefix, PASSWORD.encode())


@pytest.fixture(scope="session")
def other_key_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from rollouts.keys import write_key_pair

    prefix = str(tmp_path_factory.mktemp("keys") / "other")
    return write_key_pair(prefix, PASSWORD.encode())


def make_tree(root: Path, files: dict[str, str]) -> Path:
    """Write files (paths relative to root) and return root/flux."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "flux"


SMALL_TREE = {
    "flux/apps/production/checkout/canary.yaml": "apiVersion: flagger.app/v1beta1\nkind: Canary\n",
    "flux/apps/production/checkout/namespace.yaml": "apiVersion: v1\nkind: Namespace\n",
    "flux/apps/staging/checkout/canary.yaml": "apiVersion: flagger.app/v1beta1\nkind: Canary\nspec: {}\n",
    "flux/bootstrap/flux-system/infrastructure.yaml": "kind: Kustomization\n",
    "services/checkout/rollouts.yaml": "apiVersion: rollouts/v1alpha1\nkind: ServiceRollout\n",
}


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path, SMALL_TREE)


def files_under(tree: Path) -> list[Path]:
    return sorted(p for p in tree.rglob("*") if p.is_file())
