"""kustomize build of every kustomization under the tree: roots built, the broken directory named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
