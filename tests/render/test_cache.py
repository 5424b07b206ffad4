"""The render cache skips only specs whose output is already in the tree, byte for byte."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from rollouts.project import load_project
from rollouts.render import RenderCache, RenderOptions, check_tree, render, write_tree

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def cached_render(repo: Path) -> RenderCache:
    project = load_project(str(repo))
    cache = RenderCache(project, RenderOptions(), project.environments)
    result = render(project, options=RenderOptions(), cache=cache)
    assert result.ok
    write_tree(project, result)
    cache.save()
    return cache


def test_a_warm_check_reads_the_tree_instead_of_rendering(example_repo: Path) -> None:
    cached_render(example_repo)
    project = load_project(str(example_repo))
    cache = RenderCache(project, RenderOptions(), project.environments)
    result = render(project, options=RenderOptions(), cache=cache, check_against=str(example_repo / "flux"))
    derived = ("/namespaces/", "/analysis-controller/")  # from the set of services, never read from the tree
    assert result.from_tree == {p for p in result.files if p.startswith("flux/apps/")
                                and not any(d in p for d in derived) and p.count("/") == 4}
    assert check_tree(project, result) == ([], "")
    assert result.files == render(project).files  # the same bytes as a render without the cache


def test_an_edited_file_is_rendered_again_and_reported(example_repo: Path, run_cli: RunCli) -> None:
    cached_render(example_repo)
    canary = example_repo / "flux" / "apps" / "production" / "frontend" / "canary.yaml"
    canary.write_text(canary.read_text().replace("iterations: 10", "iterations: 1"))
    proc = run_cli("render", "--check", cwd=example_repo)
    assert proc.returncode == 1
    assert "-    iterations: 1\n+    iterations: 10\n" in proc.stdout


def test_an_edited_spec_misses_the_cache(example_repo: Path, run_cli: RunCli) -> None:
    cached_render(example_repo)
    spec = example_repo / "services" / "checkout" / "rollouts.yaml"
    spec.write_text(spec.read_text().replace("tag: 1.4.2", "tag: 1.4.3"))
    proc = run_cli("render", "--check", cwd=example_repo)
    assert proc.returncode == 1
    assert '+  values: {"resources"' in proc.stdout and "1.4.3" in proc.stdout


def test_specs_with_findings_are_never_cached_so_findings_repeat(example_repo: Path, run_cli: RunCli) -> None:
    spec = example_repo / "services" / "checkout" / "rollouts.yaml"
    spec.write_text(spec.read_text().replace("    progressDeadline: 10m", "    progressDeadline: 10m\n    timeout: 5s"))
    first = run_cli("render", cwd=example_repo)
    second = run_cli("render", "--check", cwd=example_repo)
    assert first.returncode == second.returncode == 0
    assert "route-timeout-ignored" in first.stdout and first.stdout == second.stdout
    entries = json.loads((example_repo / ".rollouts" / "cache" / "render.json").read_text())["entries"]
    assert sorted(e["name"] for e in entries.values()) == ["billing-worker", "frontend", "inventory"]


def test_other_options_or_environments_do_not_share_entries(example_repo: Path) -> None:
    project = load_project(str(example_repo))
    plain = RenderCache(project, RenderOptions(), project.environments)
    develop = RenderCache(project, RenderOptions(develop=True), project.environments)
    assert plain.key("s", b"x") != develop.key("s", b"x")
    assert plain.key("s", b"x") != RenderCache(project, RenderOptions(), ("staging",)).key("s", b"x")
    assert plain.key("s", b"x") != plain.key("s", b"y")
