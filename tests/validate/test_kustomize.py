"""kustomize build of every kustomization under the tree: roots built, the broken directory named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from rollouts.findings import Severity
from rollouts.project import Project
from rollouts.validate import kustomize
from rollouts.validate.kustomize import directories, validate_builds
from rollouts.validate.manifests import Locator

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: shop}}\n"


@pytest.fixture
def real_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The directories validate hands to the real kustomize, in order (the builds still run)."""
    built: list[str] = []
    real = kustomize._run

    def counting(binary: str, directory: str) -> tuple[str, str]:
        built.append(directory)
        return real(binary, directory)

    monkeypatch.setattr(kustomize, "_run", counting)
    return built


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


def test_plain_kustomizations_are_checked_in_process(project: Callable[..., Project], tool: Callable[[str], str],
                                                     real_builds: list[str]) -> None:
    tool("kustomize")

    built = real_builds
    files = {"apps/kustomization.yaml": "resources: [s0, s1, s2, extra.yaml]\n",
             "apps/extra.yaml": CM.format(name="extra")}
    for i in range(3):
        files[f"apps/s{i}/kustomization.yaml"] = "resources: [cm.yaml]\n"
        files[f"apps/s{i}/cm.yaml"] = CM.format(name=f"c{i}")
    proj = project(files)
    tree = Path(proj.root) / "flux"
    assert validate_builds(str(tree), Locator(proj.root)) == []
    assert built == []  # all plain: proven without a kustomize process
    # a kustomization with inline patches is built for real, and what it builds joins its parent's check
    (tree / "apps/s1/kustomization.yaml").write_text(
        "resources: [cm.yaml]\npatches:\n  - target: {kind: ConfigMap}\n    patch: |\n      - op: add\n"
        "        path: /data\n        value: {x: y}\n")
    assert validate_builds(str(tree), Locator(proj.root)) == []
    assert built == [str(tree / "apps/s1")]
    built.clear()
    # a transformer kustomize finishes only in the top build (generators' name hashes, vars, local-config drops),
    # or a patch allowed to rename, makes its parent a real build too
    for text in ("resources: [cm.yaml]\nnameSuffix: '-x'\n",
                 "resources: [cm.yaml]\npatches:\n  - target: {kind: ConfigMap}\n    options: {allowNameChange: true}\n"
                 "    patch: |\n      - op: add\n        path: /data\n        value: {x: y}\n"):
        (tree / "apps/s1/kustomization.yaml").write_text(text)
        assert validate_builds(str(tree), Locator(proj.root)) == []
        assert sorted(built) == [str(tree / "apps"), str(tree / "apps/s1")]
        built.clear()
    (tree / "apps/s1/kustomization.yaml").write_text("resources: [cm.yaml]\nnameSuffix: '-x'\n")
    (tree / "apps/s2/cm.yaml").write_text(CM.format(name="c1-x"))  # the same id as s1 builds, after its suffix
    findings = validate_builds(str(tree), Locator(proj.root))
    assert [f.file for f in findings] == ["flux/apps/kustomization.yaml"]
    assert "already registered id" in findings[0].message and "c1-x" in findings[0].message
    assert sorted(built) == [str(tree / "apps"), str(tree / "apps/s1")]
    # a broken service is named, not the aggregate that includes it
    (tree / "apps/s2/cm.yaml").write_text(CM.format(name="c2"))
    (tree / "apps/s0/kustomization.yaml").write_text("resources: [cm.yaml, gone.yaml]\n")
    findings = validate_builds(str(tree), Locator(proj.root))
    assert [f.file for f in findings] == ["flux/apps/s0/kustomization.yaml"]
    assert "gone.yaml" in findings[0].message
    # a missing entry of the aggregate itself
    (tree / "apps/s0/kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (tree / "apps/extra.yaml").unlink()
    findings = validate_builds(str(tree), Locator(proj.root))
    assert [f.file for f in findings] == ["flux/apps/kustomization.yaml"]
    assert "extra.yaml" in findings[0].message


PATCH = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [gotk-components.yaml, gotk-sync.yaml]
patches:
  - target: {group: source.toolkit.fluxcd.io, kind: GitRepository, name: flux-system}
    patch: |
      - op: add
        path: /spec/verify
        value: {mode: HEAD, secretRef: {name: signers}}
"""


def test_bootstrap_files_are_stood_in_and_said(project: Callable[..., Project], tool: Callable[[str], str]) -> None:
    tool("kustomize")
    proj = project({"bootstrap/kustomization.yaml": "resources: [flux-system, rollouts]\n",
                    "bootstrap/flux-system/kustomization.yaml": PATCH,
                    "bootstrap/rollouts/kustomization.yaml": "resources: [cm.yaml]\n",
                    "bootstrap/rollouts/cm.yaml": CM.format(name="a")})
    tree = Path(proj.root) / "flux"
    findings = validate_builds(str(tree), Locator(proj.root))
    assert [(f.rule, f.severity, f.file) for f in findings] == [
        ("kustomize-bootstrap-files", Severity.INFO, "flux/bootstrap/flux-system/kustomization.yaml")]
    assert "gotk-components.yaml and gotk-sync.yaml are written by `flux bootstrap`" in findings[0].message
    assert not (tree / "bootstrap/flux-system/gotk-sync.yaml").exists()  # the tree is left alone
    # the patch is applied to the GitRepository bootstrap writes: a patch that cannot apply fails
    (tree / "bootstrap/flux-system/kustomization.yaml").write_text(PATCH.replace("op: add", "op: replace")
                                                                    .replace("/spec/verify", "/spec/nothing/x"))
    findings = validate_builds(str(tree), Locator(proj.root))
    assert [(f.rule, f.file) for f in findings] == [
        ("kustomize-bootstrap-files", "flux/bootstrap/flux-system/kustomization.yaml"),
        ("kustomize-build", "flux/bootstrap/flux-system/kustomization.yaml")]
    assert str(tree / "bootstrap/flux-system") in findings[1].message or "nothing" in findings[1].message
    # after `flux bootstrap` wrote them, the real files are built and nothing is said
    (tree / "bootstrap/flux-system/kustomization.yaml").write_text(PATCH)
    (tree / "bootstrap/flux-system/gotk-components.yaml").write_text("")
    (tree / "bootstrap/flux-system/gotk-sync.yaml").write_text(kustomize.GOTK_SYNC)
    assert validate_builds(str(tree), Locator(proj.root)) == []
    # an id conflict between the bootstrap objects and ours is found through the stand-ins' ids
    (tree / "bootstrap/flux-system/gotk-sync.yaml").unlink()
    (tree / "bootstrap/flux-system/gotk-components.yaml").unlink()
    (tree / "bootstrap/rollouts/cm.yaml").write_text(kustomize.GOTK_SYNC.split("---")[0])
    findings = validate_builds(str(tree), Locator(proj.root))
    assert [(f.rule, f.file) for f in findings][-1] == ("kustomize-build", "flux/bootstrap/kustomization.yaml")


def test_real_builds_are_remembered_by_content(project: Callable[..., Project], tool: Callable[[str], str],
                                               tmp_path: Path, real_builds: list[str]) -> None:
    tool("kustomize")

    # an anchor: legal, outside what the in-process check proves, so built for real
    two = CM.format(name="a") + "data: &d {x: y}\nbinaryData: *d\n"
    proj = project({"apps/kustomization.yaml": "resources: [a, b]\n",
                    "apps/a/kustomization.yaml": "resources: [cm.yaml]\n", "apps/a/cm.yaml": two,
                    "apps/b/kustomization.yaml": "resources: [cm.yaml]\n", "apps/b/cm.yaml": CM.format(name="b")})
    tree, cache = str(Path(proj.root) / "flux"), str(tmp_path / "cache")
    built = real_builds
    assert validate_builds(tree, Locator(proj.root), cache_dir=cache) == []
    assert built == [f"{tree}/apps/a"] and len(list((tmp_path / "cache" / "kustomize").iterdir())) == 1
    built.clear()
    assert validate_builds(tree, Locator(proj.root), cache_dir=cache) == []
    assert built == []  # nothing changed: nothing rebuilt, and its ids still feed the parent's check
    (Path(tree) / "apps/b/cm.yaml").write_text(CM.format(name="a"))  # now a conflict with a's object
    findings = validate_builds(tree, Locator(proj.root), cache_dir=cache)
    assert [f.file for f in findings] == ["flux/apps/kustomization.yaml"]
    # any change to an input rebuilds, and a failure is never remembered
    (Path(tree) / "apps/b/cm.yaml").write_text(CM.format(name="b"))
    (Path(tree) / "apps/a/cm.yaml").write_text(two + "---\n" + CM.format(name="a"))
    built.clear()
    for _ in range(2):
        findings = validate_builds(tree, Locator(proj.root), cache_dir=cache)
        assert [f.file for f in findings] == ["flux/apps/a/kustomization.yaml"]
    assert built.count(f"{tree}/apps/a") == 2


FLUX = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: {name}, namespace: flux-system}}
spec:
  interval: 10m
  path: {path}
  prune: true
  sourceRef: {{kind: {source}, name: rollouts}}
"""


def test_every_flux_path_in_the_tree_is_a_built_kustomization(project: Callable[..., Project],
                                                               tool: Callable[[str], str]) -> None:
    tool("kustomize")
    flux = "---\n".join([FLUX.format(name="a", path="./flux/apps/a", source="GitRepository"),
                         FLUX.format(name="b", path="./flux/apps/b", source="GitRepository"),
                         FLUX.format(name="c", path="./flux/apps/c", source="GitRepository"),
                         FLUX.format(name="crds", path="./config/crd", source="GitRepository"),  # not in the tree
                         FLUX.format(name="oci", path="./flux/apps/gone", source="OCIRepository")])  # another source
    proj = project({"bootstrap/kustomization.yaml": "resources: [flux.yaml]\n", "bootstrap/flux.yaml": flux,
                    "apps/a/kustomization.yaml": "resources: [cm.yaml]\n", "apps/a/cm.yaml": CM.format(name="a"),
                    "apps/b/cm.yaml": CM.format(name="b")})
    findings = validate_builds(str(Path(proj.root) / "flux"), Locator(proj.root))
    assert [(f.rule, f.severity, f.file, f.resource, f.path) for f in findings] == [
        ("flux-path-unbuilt", Severity.WARNING, "flux/bootstrap/flux.yaml", "Kustomization flux-system/b",
         "/spec/path"),
        ("flux-path-missing", Severity.ERROR, "flux/bootstrap/flux.yaml", "Kustomization flux-system/c",
         "/spec/path")]
    assert (findings[1].line, findings[1].column) == (24, 9)
    assert "flux/apps/c, which is not in the tree" in findings[1].message
