"""The product's real output for the suite: a render of a copy of this repository's services, and its objects.

The change made here to the specs is the TEST setting ``ROLLOUTS_E2E_INTERVAL`` (default 20s): every
``strategy.interval`` (the spec's and each environment's override) is rewritten to it in the copy, so a rollout
takes seconds instead of minutes. Nothing else (thresholds, steps, iterations, metric windows, gates) is touched
here (the Flagger suite also sets the change windows: test_flagger.e2e_policies). 20s, not Flagger's minimum of
10s: the product's lint (gate-timeouts) refuses an interval the webhooks of one tick may take longer than, as
Flagger's ticks would stretch.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rollouts.findings import Finding
from rollouts.validate.manifests import Document, Locator

ROOT = Path(__file__).resolve().parents[2]
INTERVAL_ENV = "ROLLOUTS_E2E_INTERVAL"


def e2e_interval() -> str:
    return os.environ.get(INTERVAL_ENV, "20s")


def seconds(duration: str) -> float:
    """A Go duration as Flagger's specs write it (``10s``, ``1m``, ``1m30s``, ``500ms``) in seconds."""
    total, number = 0.0, ""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    i = 0
    while i < len(duration):
        ch = duration[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if duration.startswith("ms", i) else ch
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    return total


def copy_project(dest: Path, interval: str | None = None) -> Path:
    """services/ and rollouts.project.yaml copied to ``dest``; with ``interval``, every strategy.interval set to it."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "services", dest / "services")
    shutil.copy2(ROOT / "rollouts.project.yaml", dest / "rollouts.project.yaml")
    if interval is not None:
        from ruamel.yaml import YAML

        rt = YAML()
        rt.preserve_quotes = True
        for spec in sorted((dest / "services").glob("*/rollouts.yaml")):
            data = rt.load(spec.read_text(encoding="utf-8"))
            body = data.get("spec") or {}
            blocks = [body, *((body.get("environments") or {}).values())]
            for block in blocks:
                strategy = (block or {}).get("strategy")
                if isinstance(strategy, dict) and "interval" in strategy:
                    strategy["interval"] = interval
            with spec.open("w", encoding="utf-8") as fh:
                rt.dump(data, fh)
    return dest


@dataclass
class Rendered:
    """A render written to ``root/flux``; ``locator`` maps a problem in a rendered object to its spec line."""

    root: Path
    locator: Locator

    @property
    def tree(self) -> Path:
        return self.root / "flux"

    def files(self) -> list[Path]:
        return sorted(p for p in self.tree.rglob("*.yaml") if p.is_file())

    def documents(self, path: Path) -> list[Document]:
        return [d for d in self.locator.documents(str(path)) if d.kind and not _is_kustomize_config(d)]

    def objects(self, under: str = "") -> Iterator[tuple[Path, Document, dict[str, Any]]]:
        """(file, positioned document, parsed object) for every Kubernetes object of the tree (under ``under``)."""
        base = self.tree / under if under else self.tree
        for path in self.files():
            if base not in (path, *path.parents):
                continue
            docs = self.documents(path)
            parsed = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if isinstance(d, dict)]
            parsed = [d for d in parsed if d.get("kind") and not str(d.get("apiVersion", "")).startswith(
                "kustomize.config.k8s.io")]
            yield from ((path, doc, obj) for doc, obj in zip(docs, parsed, strict=True))

    def where(self, path: Path, doc: Document, pointer: str, message: str) -> Finding:
        return self.locator.finding("e2e-apply-rejected", str(path), doc, pointer, message)


def _is_kustomize_config(doc: Document) -> bool:
    return doc.api_version.startswith("kustomize.config.k8s.io")


def render(root: Path) -> Rendered:
    """``rollouts render`` of the project at ``root`` (in process, so the origins of every object are known)."""
    from rollouts.project import load_project
    from rollouts.render import render as render_project
    from rollouts.render import write_tree

    project = load_project(str(root))
    result = render_project(project)
    if not result.ok:
        raise AssertionError("render failed:\n" + "\n".join(f"{f.location}: {f.message}" for f in result.findings))
    write_tree(project, result)
    return Rendered(root, Locator(str(root), result.origins))
