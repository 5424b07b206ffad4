"""kustomize build of every kustomization under the tree: roots built, the broken directory named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from generator.project import Project
from generator.validate.kustomize import directories, validate_builds
from generator.validate.manifests import Locator

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: shop}}\n"


def test_clean_tree_builds(project: Callable[..., Project], tool: Callable[[str], str]) -> None:
    tool("kustomize")
    proj = project({
        "apps/kustomization.yaml": "resources: [shop, other]\n",
        "apps/shop/kustomization.yaml": "resources: [cm.yaml]\n",
        "apps/shop/cm.yaml": CM.format(name="a"),
        "apps/other/kustomization.yaml": "resources: [cm.yaml]\n",
        "apps/other/cm.yaml": CM.format(name="b"),
        "bootstrap/kustomization.yaml": "resources: []\n",
    })
    tree = str(Path(proj.root) / "flux")
    assert len(directories(tree)) == 4
    assert validate_builds(tree, Locator(proj.root)) == []


def test_the_broken_kustomization_is_named(project: Callable[..., Project], tool: Callable[[str], str]) -> None:
    tool("kustomize")
    proj = project({
        "apps/kustomization.yaml": "resources: [shop, other]\n",
        "apps/shop/kustomization.yaml": "resources: [cm.yaml, missing.yaml]\n",
        "apps/shop/cm.yaml": CM.format(name="a"),
        "apps/other/kustomization.yaml": "resources: [cm.yaml]\n",
        "apps/other/cm.yaml": CM.format(name="a"),  # the same id as shop's: the parent fails on the merge
    })
    findings = validate_builds(str(Path(proj.root) / "flux"), Locator(proj.root))
    assert [(f.rule, f.file) for f in findings] == [("kustomize-build", "flux/apps/shop/kustomization.yaml")]
    assert "missing.yaml" in findings[0].message
    # with shop fixed, the duplicate id across the two children is the parent's problem
    (Path(proj.root) / "flux/apps/shop/kustomization.yaml").write_text("resources: [cm.yaml]\n")
    findings = validate_builds(str(Path(proj.root) / "flux"), Locator(proj.root))
    assert [(f.rule, f.file) for f in findings] == [("kustomize-build", "flux/apps/kustomization.yaml")]
    assert "already registered id" in findings[0].message


def test_large_aggregates_are_built_in_groups(project: Callable[..., Project], tool: Callable[[str], str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    tool("kustomize")
    from generator.validate import kustomize

    monkeypatch.setattr(kustomize, "WHOLE", 3)  # as if apps/ were too large to build in one piece
    monkeypatch.setattr(kustomize, "GROUP", 2)
    files = {"apps/kustomization.yaml": "resources: [s0, s1, s2, s3, s4, extra.yaml]\n",
             "apps/extra.yaml": CM.format(name="extra")}
    for i in range(5):
        files[f"apps/s{i}/kustomization.yaml"] = "resources: [cm.yaml]\n"
        files[f"apps/s{i}/cm.yaml"] = CM.format(name=f"c{i}")
    proj = project(files)
    tree = str(Path(proj.root) / "flux")
    assert validate_builds(tree, Locator(proj.root)) == []
    # a broken service is named, not the group it was built in
    (Path(tree) / "apps/s3/kustomization.yaml").write_text("resources: [cm.yaml, gone.yaml]\n")
    findings = validate_builds(tree, Locator(proj.root))
    assert [f.file for f in findings] == ["flux/apps/s3/kustomization.yaml"]
    assert "gone.yaml" in findings[0].message and "group-" not in findings[0].message
    # a missing entry of the split aggregate itself
    (Path(tree) / "apps/s3/kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (Path(tree) / "apps/extra.yaml").unlink()
    findings = validate_builds(tree, Locator(proj.root))
    assert [(f.file, f.message) for f in findings] == [
        ("flux/apps/kustomization.yaml", "flux/apps/extra.yaml does not exist")]
    # an id conflict between two entries of one group is the aggregate's
    (Path(tree) / "apps/kustomization.yaml").write_text("resources: [s0, s1, s2, s3, s4]\n")
    (Path(tree) / "apps/s1/cm.yaml").write_text(CM.format(name="c0"))
    findings = validate_builds(tree, Locator(proj.root))
    assert [f.file for f in findings] == ["flux/apps/kustomization.yaml"]
    assert "already registered id" in findings[0].message


def test_successful_builds_are_remembered_by_content(project: Callable[..., Project], tool: Callable[[str], str],
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool("kustomize")
    from generator.validate import kustomize

    proj = project({"apps/kustomization.yaml": "resources: [a, b]\n",
                    "apps/a/kustomization.yaml": "resources: [cm.yaml]\n", "apps/a/cm.yaml": CM.format(name="a"),
                    "apps/b/kustomization.yaml": "resources: [cm.yaml]\n", "apps/b/cm.yaml": CM.format(name="b")})
    tree, cache = str(Path(proj.root) / "flux"), str(tmp_path / "cache")
    built: list[str] = []
    real = kustomize._run

    def counting(binary: str, directory: str) -> str:  # the real build, counted
        built.append(directory)
        return real(binary, directory)

    monkeypatch.setattr(kustomize, "_run", counting)
    assert validate_builds(tree, Locator(proj.root), cache_dir=cache) == []
    assert len(built) == 1 and len(list((tmp_path / "cache" / "kustomize").iterdir())) == 1
    built.clear()
    assert validate_builds(tree, Locator(proj.root), cache_dir=cache) == []
    assert built == []  # nothing changed: nothing rebuilt
    # any change to an input (here a file two levels down) rebuilds, and a failure is never remembered
    (Path(tree) / "apps/b/kustomization.yaml").write_text("resources: [cm.yaml, gone.yaml]\n")
    findings = validate_builds(tree, Locator(proj.root), cache_dir=cache)
    assert [f.file for f in findings] == ["flux/apps/b/kustomization.yaml"]
    built.clear()
    assert [f.file for f in validate_builds(tree, Locator(proj.root), cache_dir=cache)] == [
        "flux/apps/b/kustomization.yaml"]
    assert built
