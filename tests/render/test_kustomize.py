"""The directories Flux applies build with kustomize (the committed tree and one with the develop pack on), and
no other directory has a kustomization.yaml: no aggregate applies CRDs together with their custom resources."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from rollouts.project import load_project
from rollouts.render import RenderOptions, render, write_tree

GOTK = ("gotk-components.yaml", "gotk-sync.yaml")  # written by flux bootstrap, absent before it


def applied_paths(flux: Path) -> set[Path]:
    """The directories the rendered Flux Kustomizations apply, and the bootstrap path (flux bootstrap --path)."""
    paths = {flux / "bootstrap"}
    for file in (flux / "bootstrap" / "rollouts").glob("*.yaml"):
        for doc in yaml.safe_load_all(file.read_text()):
            flux_kind = doc and doc["apiVersion"].startswith("kustomize.toolkit.fluxcd.io/")
            if flux_kind and doc["spec"]["sourceRef"]["name"] == "rollouts":
                paths.add(flux.parent / doc["spec"]["path"])
    return paths


def build_every_directory(kustomize: str, flux: Path) -> list[str]:
    with_index = {p.parent for p in flux.rglob("kustomization.yaml")}
    applied = applied_paths(flux)
    assert len(applied) > 10
    # the bootstrap layer's own folder: bootstrap's two files, and the two directories it is built from
    assert with_index == applied | {flux / "bootstrap" / "flux-system", flux / "bootstrap" / "rollouts"}
    failures = []
    for directory in sorted(with_index):
        proc = subprocess.run([kustomize, "build", str(directory)], capture_output=True, text=True, timeout=60,
                              check=False)
        empty = directory.name in ("namespaces", "flux-system")  # no namespace yet; bootstrap's files empty
        if proc.returncode != 0 or ("kind:" not in proc.stdout and not empty):
            failures.append(f"{directory.relative_to(flux)}: {proc.stderr.strip()}")
    return failures


def bootstrapped(flux: Path) -> None:
    """What `flux bootstrap` would add (Flux's documented customisation starts from the two files empty)."""
    for name in GOTK:
        (flux / "bootstrap" / "flux-system" / name).touch()


@pytest.mark.slow
def test_the_committed_tree_builds(root: Path, tmp_path: Path, tool: Callable[[str], str]) -> None:
    flux = tmp_path / "flux"
    subprocess.run(["cp", "-a", str(root / "flux"), str(flux)], check=True)
    assert not any((flux / "bootstrap" / "flux-system" / name).exists() for name in GOTK)
    bootstrapped(flux)
    assert build_every_directory(tool("kustomize"), flux) == []


@pytest.mark.slow
def test_a_tree_with_the_develop_pack_builds(example_repo: Path, tool: Callable[[str], str]) -> None:
    kustomize = tool("kustomize")
    project = load_project(str(example_repo))
    write_tree(project, render(project, options=RenderOptions(develop=True, verify_secret="git-keys")))
    bootstrapped(example_repo / "flux")
    assert build_every_directory(kustomize, example_repo / "flux") == []
    out = subprocess.run([kustomize, "build", str(example_repo / "flux" / "bootstrap")],
                         capture_output=True, text=True, check=True).stdout
    # the chain with develop (the prometheus-operator CRDs among them); per env: namespaces, the analysis
    # controller's config, 4 services
    assert out.count("kind: Kustomization") == 8 + 2 * (2 + 4)


@pytest.mark.slow
def test_the_bootstrap_gitrepository_verifies_commits(example_repo: Path, tool: Callable[[str], str]) -> None:
    """flux bootstrap keeps the rendered flux-system/kustomization.yaml (flux2 pkg/manifestgen/kustomization):
    building it over bootstrap's gotk-sync.yaml gives the flux-system GitRepository a spec.verify."""
    project = load_project(str(example_repo))
    write_tree(project, render(project, options=RenderOptions(verify_secret="git-keys")))
    folder = example_repo / "flux" / "bootstrap" / "flux-system"
    (folder / "gotk-components.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: flux-system}\n")
    (folder / "gotk-sync.yaml").write_text(  # as flux2 pkg/manifestgen/sync writes it
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n"
        "  namespace: flux-system\nspec:\n  interval: 1m0s\n  ref:\n    branch: main\n  secretRef:\n"
        "    name: flux-system\n  url: ssh://git@example.com/gitops\n---\n"
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: flux-system\n"
        "  namespace: flux-system\nspec:\n  interval: 10m0s\n  path: ./flux/bootstrap\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n")
    out = subprocess.run([tool("kustomize"), "build", str(folder)], capture_output=True, text=True,
                         check=True).stdout
    [repo] = [d for d in yaml.safe_load_all(out) if d["kind"] == "GitRepository"]
    assert repo["spec"]["verify"] == {"mode": "HEAD", "secretRef": {"name": "git-keys"}}
    assert repo["spec"]["secretRef"] == {"name": "flux-system"}
    assert {d["kind"] for d in yaml.safe_load_all(out)} == {"GitRepository", "Kustomization", "Namespace"}
