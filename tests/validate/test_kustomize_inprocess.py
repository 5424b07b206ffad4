"""The in-process check of plain kustomizations against the real kustomize, on a corpus that includes the failures:
whatever the in-process check proves builds does build, with the same resource ids, and everything it does not
prove goes to the real kustomize, whose verdict (and error) validate reports."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from rollouts.validate import kustomize as k
from rollouts.validate.manifests import Locator

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: shop\ndata: {{a: b}}\n"
KUST = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{}"


def kust(*entries: str) -> str:
    return KUST.format("".join(f"  - {e}\n" for e in entries))


# name -> (files under the kustomization directory, the expected in-process verdict, the real kustomize's)
# in-process: "proves" (returns the ids) or "defers" (None: the real kustomize decides); real: "ok" or "fails"
CORPUS: dict[str, tuple[dict[str, str], str, str]] = {
    "one-file": ({"kustomization.yaml": kust("cm.yaml"), "cm.yaml": CM.format(name="a")}, "proves", "ok"),
    "multi-document": ({"kustomization.yaml": kust("all.yaml"),
                        "all.yaml": "# header\n---\n" + CM.format(name="a") + "---\n\n---  # a comment\n"
                        + CM.format(name="b") + "---\n# only a comment\n"}, "proves", "ok"),
    "document-start-first-line": ({"kustomization.yaml": kust("cm.yaml"), "cm.yaml": "---\n" + CM.format(name="a")},
                                  "proves", "ok"),
    "crlf": ({"kustomization.yaml": kust("cm.yaml"), "cm.yaml": (CM.format(name="a") + "---\n"
              + CM.format(name="b")).replace("\n", "\r\n")}, "proves", "ok"),
    "nested": ({"kustomization.yaml": kust("x", "y.yaml"), "x/kustomization.yaml": kust("cm.yaml"),
                "x/cm.yaml": CM.format(name="a"), "y.yaml": CM.format(name="b")}, "proves", "ok"),
    "same-name-other-kind": ({"kustomization.yaml": kust("cm.yaml", "s.yaml"), "cm.yaml": CM.format(name="a"),
                              "s.yaml": CM.format(name="a").replace("ConfigMap", "Secret")}, "proves", "ok"),
    "kustomization-without-header": ({"kustomization.yaml": "resources: [cm.yaml]\n",
                                      "cm.yaml": CM.format(name="a")}, "proves", "ok"),
    "empty-resources": ({"kustomization.yaml": "resources: []\n"}, "proves", "ok"),
    "block-scalar-with-marks": ({"kustomization.yaml": kust("cm.yaml"), "cm.yaml": CM.format(name="a")
                                 + "extra:\n  ignore: |\n    /*\n    !/config/crd/\n    &x *y\n"}, "proves", "ok"),
    "null-list-item": ({"kustomization.yaml": kust("cm.yaml"),
                        "cm.yaml": CM.format(name="a") + "list: [a, null]\n"}, "proves", "ok"),
    "marks-in-quotes-and-comments": ({"kustomization.yaml": kust("cm.yaml"), "cm.yaml": "# from services/*/x\n"
                                      + CM.format(name="a") + "extra: {i: ['*'], q: 'a != b', c: x && y, m: a *b}\n"},
                                     "proves", "ok"),
    # failures: never proven, so built for real
    "missing-file": ({"kustomization.yaml": kust("cm.yaml", "gone.yaml"), "cm.yaml": CM.format(name="a")},
                     "defers", "fails"),
    "duplicate-id-in-a-file": ({"kustomization.yaml": kust("cm.yaml"),
                                "cm.yaml": CM.format(name="a") + "---\n" + CM.format(name="a")}, "defers", "fails"),
    "duplicate-id-across-directories": ({"kustomization.yaml": kust("x", "y"), "x/kustomization.yaml": kust("cm.yaml"),
                                         "x/cm.yaml": CM.format(name="a"), "y/kustomization.yaml": kust("cm.yaml"),
                                         "y/cm.yaml": CM.format(name="a")}, "defers", "fails"),
    "duplicate-id-default-namespace": ({"kustomization.yaml": kust("cm.yaml"),
                                        "cm.yaml": CM.format(name="a").replace("shop", "default") + "---\n"
                                        + CM.format(name="a").replace("  namespace: shop\n", "")}, "defers", "fails"),
    "duplicate-key": ({"kustomization.yaml": kust("cm.yaml"), "cm.yaml": CM.format(name="a") + "data: {c: d}\n"},
                      "defers", "fails"),
    "not-yaml": ({"kustomization.yaml": kust("cm.yaml"), "cm.yaml": CM.format(name="a") + "  x: [\n"},
                 "defers", "fails"),
    "no-name": ({"kustomization.yaml": kust("cm.yaml"),
                 "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: shop}\n"}, "defers", "fails"),
    "no-kind": ({"kustomization.yaml": kust("cm.yaml"), "cm.yaml": "apiVersion: v1\nmetadata: {name: a}\n"},
                "defers", "fails"),
    "bad-separator": ({"kustomization.yaml": kust("cm.yaml"),
                       "cm.yaml": CM.format(name="a") + "--- kind: x\n" + CM.format(name="b")}, "defers", "fails"),
    "directory-without-kustomization": ({"kustomization.yaml": kust("x"), "x/cm.yaml": CM.format(name="a")},
                                        "defers", "fails"),
    "yaml-1.1-bool-entry": ({"kustomization.yaml": kust("y"), "y/kustomization.yaml": kust("cm.yaml"),
                             "y/cm.yaml": CM.format(name="a")}, "defers", "fails"),
    "generator-under-a-plain-parent": ({"kustomization.yaml": kust("x", "y.yaml"),
                                        "x/kustomization.yaml": "configMapGenerator: [{name: a, literals: [k=v]}]\n",
                                        "y.yaml": CM.format(name="a").replace("  namespace: shop\n", "")},
                                       "defers", "fails"),
    "generator-two-levels-down": ({"kustomization.yaml": kust("m", "y.yaml"), "m/kustomization.yaml": kust("x"),
                                   "m/x/kustomization.yaml": "configMapGenerator: [{name: a, literals: [k=v]}]\n",
                                   "y.yaml": CM.format(name="a").replace("  namespace: shop\n", "")},
                                  "defers", "fails"),
    "unknown-kustomization-field": ({"kustomization.yaml": kust("cm.yaml") + "resourcez: []\n",
                                     "cm.yaml": CM.format(name="a")}, "defers", "fails"),
    # legal, but outside what the in-process check proves: the real kustomize builds them
    "same-name-two-namespaces": ({"kustomization.yaml": kust("cm.yaml"), "cm.yaml": CM.format(name="a") + "---\n"
                                  + CM.format(name="a").replace("shop", "other")}, "defers", "ok"),
    "anchors": ({"kustomization.yaml": kust("cm.yaml"),
                 "cm.yaml": CM.format(name="a").replace("data: {a: b}", "data: &d {a: b}\nbinaryData: *d")},
                "defers", "ok"),
    "alias-in-a-sequence": ({"kustomization.yaml": kust("cm.yaml"),
                             "cm.yaml": CM.format(name="a") + "x: [&v 1]\ny:\n  - *v\n"}, "defers", "ok"),
    "merge-key": ({"kustomization.yaml": kust("cm.yaml"),
                   "cm.yaml": CM.format(name="a") + "x: &m {a: 1}\ny:\n  <<: *m\n"}, "defers", "ok"),
    "tag-in-flow": ({"kustomization.yaml": kust("cm.yaml"), "cm.yaml": CM.format(name="a") + "x: [!!str 1]\n"},
                    "defers", "ok"),
    "list-kind": ({"kustomization.yaml": kust("list.yaml"),
                   "list.yaml": "apiVersion: v1\nkind: List\nitems:\n  - " + CM.format(name="a").replace(
                       "\n", "\n    ").rstrip() + "\n"}, "defers", "ok"),
    "tag": ({"kustomization.yaml": kust("cm.yaml"), "cm.yaml": CM.format(name="a").replace("{a: b}", "{a: !!str b}")},
            "defers", "ok"),
    "numeric-name": ({"kustomization.yaml": kust("cm.yaml"), "cm.yaml": CM.format(name="1")}, "defers", "ok"),
    "transformer": ({"kustomization.yaml": kust("cm.yaml") + "namePrefix: p-\n", "cm.yaml": CM.format(name="a")},
                    "defers", "ok"),
}


def _real(binary: str, directory: Path) -> tuple[list[k.Id] | None, str]:
    proc = subprocess.run([binary, "build", "--load-restrictor", "LoadRestrictionsNone", str(directory)],
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        return None, proc.stderr
    return k.output_ids(proc.stdout), ""


def _inprocess(directory: str, seen: frozenset[str] = frozenset()) -> list[k.Id] | None:
    file = k.kustomization_file(directory)
    if file is None or directory in seen:
        return None
    node = k._load(directory, file)
    if not node.plain:
        return None
    return k.verify_plain(node, lambda child: _inprocess(child, seen | {directory}),
                          lambda path: k.ids_of(k.file_documents(path)))


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_inprocess_agrees_with_kustomize(case: str, tmp_path: Path, tool: Callable[[str], str]) -> None:
    binary = tool("kustomize")
    files, inprocess, real = CORPUS[case]
    tree = tmp_path / "flux"
    for rel, text in files.items():
        (tree / "k" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / "k" / rel).write_bytes(text.encode())
    real_ids, error = _real(binary, tree / "k")
    assert ("fails" if error else "ok") == real, error
    proven = _inprocess(str(tree / "k"))
    assert ("proves" if proven is not None else "defers") == inprocess
    if proven is not None:  # what it proves is what kustomize builds, id for id
        assert real_ids is not None and Counter(proven) == Counter(real_ids)
    findings = k.validate_builds(str(tree), Locator(str(tmp_path)))
    if real == "ok":
        assert findings == []
    else:  # the real kustomize's own error, on the kustomization
        assert [(f.rule, f.file) for f in findings] == [("kustomize-build", "flux/k/kustomization.yaml")]
        assert " ".join(error.split()).removeprefix("Error: ") in findings[0].message
