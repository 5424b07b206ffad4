"""What a change does to the releases: per service and environment that differs between a base commit and the
working tree, the resolved spec's fields, the plan's figures (before -> after) and the rendered objects, field by
field (by object Kind/namespace/name and field path, never by text line).

The base's services/ and rollouts.project.yaml are read from git (``git ls-tree`` + ``git show``) into a scratch
directory and rendered there; the working tree is rendered in place (nothing is written). The default base is the
merge base of HEAD with the default branch (origin/HEAD, else main, else master).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from . import git
from .durations import duration
from .errors import RolloutsError
from .findings import Finding
from .lint import load_and_lint
from .project import discover, load_project
from .render import render
from .render.plan import plan, shown
from .spec.resolve import environments, resolve

SOURCES = ("services", "rollouts.project.yaml")
BEFORE, AFTER = "#8c959f", "#0969da"  # the chart's lines: grey before, blue after


@dataclass(frozen=True)
class Change:
    path: str
    before: Any  # None: absent before
    after: Any  # None: absent after


@dataclass(frozen=True)
class ServiceDiff:
    service: str
    environment: str
    status: str  # added, removed, changed
    spec: tuple[Change, ...]
    plan: tuple[Change, ...]  # figure name, before -> after
    objects: tuple[Change, ...]  # "Kind/namespace/name: field.path"
    weights: tuple[tuple[tuple[float, int], ...], tuple[tuple[float, int], ...]] = ((), ())  # before, after
    units: dict[str, str] = field(default_factory=dict)  # of each plan figure changed (s, %, %·min, pod·min)

    def figure(self, value: float | None, name: str) -> str:
        return "(none)" if value is None else shown(value, self.units[name])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Snapshot:
    """One tree's services: (service, environment) -> (resolved spec, plan figures, rendered objects)."""

    specs: dict[tuple[str, str], dict[str, Any]]
    figures: dict[tuple[str, str], dict[str, tuple[float, str]]]
    objects: dict[tuple[str, str], dict[str, Any]]
    weights: dict[tuple[str, str], tuple[tuple[float, int], ...]]  # the plan's (seconds, canary weight) per tick


def changes(before: Any, after: Any, path: str = "") -> Iterator[Change]:
    """Every field that differs; lists of named mappings (webhooks, metrics) are matched by name, other lists of
    the same length item by item, the rest whole."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in before:
                yield Change(where, None, after[key])
            elif key not in after:
                yield Change(where, before[key], None)
            else:
                yield from changes(before[key], after[key], where)
    elif isinstance(before, list) and isinstance(after, list) and before != after:
        if _named(before) and _named(after):
            yield from changes({i["name"]: i for i in before}, {i["name"]: i for i in after}, path)
        elif len(before) == len(after) and any(isinstance(i, dict | list) for i in before):
            for i, (b, a) in enumerate(zip(before, after, strict=True)):
                yield from changes(b, a, f"{path}[{i}]")
        else:
            yield Change(path, before, after)
    elif before != after:
        yield Change(path, before, after)


def _named(items: list[Any]) -> bool:
    names = [i.get("name") for i in items if isinstance(i, dict)]
    return len(names) == len(items) and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def snapshot(root: str, label: str) -> Snapshot:
    """Render and plan the project at ``root`` in memory. Raises RolloutsError when it does not render."""
    project = load_project(root)
    result = render(project)
    errors = [f for f in result.findings if f.severity.value == "error"]
    if errors:
        raise DiffError(label, errors)
    specs: dict[tuple[str, str], dict[str, Any]] = {}
    figures: dict[tuple[str, str], dict[str, tuple[float, str]]] = {}
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    weights: dict[tuple[str, str], tuple[tuple[float, int], ...]] = {}
    paths, _ = discover(project)
    for path in paths:
        spec, _found = load_and_lint(project, path)
        if spec is None:
            continue
        for environment in environments(spec, project.environments):
            resolved = resolve(spec, environment)
            key = (str(resolved["metadata"]["name"]), environment)
            specs[key] = {"metadata": dict(resolved["metadata"]), "spec": dict(resolved["spec"])}
            planned = plan(resolved)
            figures[key] = {f.name: (f.value, f.unit) for f in planned.figures}
            weights[key] = tuple((tick.at, tick.weight) for tick in planned.ticks)
            objects[key] = {}
    for file, text in result.files.items():
        parts = file.split("/")
        if len(parts) != 5 or parts[:2] != ["flux", "apps"] or not file.endswith(".yaml"):
            continue
        key = (parts[3], parts[2])
        if key not in objects:
            continue
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and doc.get("kind") and not str(doc.get("apiVersion", "")).startswith(
                    "kustomize.config.k8s.io"):
                meta = doc.get("metadata") or {}
                objects[key][f"{doc['kind']}/{meta.get('namespace', '')}/{meta.get('name', '')}"] = doc
    return Snapshot(specs, figures, objects, weights)


class DiffError(RolloutsError):
    def __init__(self, label: str, findings: list[Finding]) -> None:
        first = findings[0]
        super().__init__(f"{label} does not render: {first.location}: {first.message}",
                         "Fix the spec (rollouts lint shows every finding), or diff against another base.")
        self.findings = findings


def default_base(root: str) -> str:
    """The merge base of HEAD with the default branch."""
    for branch in ("origin/HEAD", "main", "master", "origin/main", "origin/master"):
        found = git.run("rev-parse", "--verify", "-q", f"{branch}^{{commit}}", cwd=root)
        if found.returncode == 0:
            base = git.run("merge-base", "HEAD", branch, cwd=root)
            if base.returncode == 0:
                return base.stdout.strip()
    raise RolloutsError(f"{root}: no default branch to diff against (origin/HEAD, main or master)",
                        "Name the base: rollouts diff BASE (a commit, branch or tag).")


def checkout_sources(root: str, base: str, into: str) -> None:
    """The base's services/ and rollouts.project.yaml, written under ``into``."""
    commit = git.run("rev-parse", "--verify", "-q", f"{base}^{{commit}}", cwd=root)
    if commit.returncode != 0:
        raise RolloutsError(f"{base}: not a commit of {os.path.abspath(root)}",
                            "Name a commit, branch or tag (git log shows them).")
    listed = git.run("ls-tree", "-r", "-z", "--name-only", commit.stdout.strip(), "--", *SOURCES, cwd=root)
    if listed.returncode != 0:
        raise RolloutsError(f"git ls-tree {base} failed: {listed.stderr.strip()[:300]}")
    for name in filter(None, listed.stdout.split("\0")):
        shown = git.run("show", f"{commit.stdout.strip()}:{name}", cwd=root)
        if shown.returncode != 0:
            raise RolloutsError(f"git show {base}:{name} failed: {shown.stderr.strip()[:300]}")
        target = os.path.join(into, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(shown.stdout)


def diff(root: str, base: str | None = None) -> tuple[str, list[ServiceDiff]]:
    """(the base commit, each service and environment that differs), sorted by service and environment."""
    base = base or default_base(root)
    with tempfile.TemporaryDirectory(prefix="rollouts-diff-") as scratch:
        checkout_sources(root, base, scratch)
        before = snapshot(scratch, f"the base {base}")
    after = snapshot(root, "the working tree")
    out = []
    for key in sorted(set(before.specs) | set(after.specs)):
        status = "added" if key not in before.specs else "removed" if key not in after.specs else "changed"
        spec = tuple(changes(before.specs.get(key, {}), after.specs.get(key, {})))
        old, new = before.figures.get(key, {}), after.figures.get(key, {})
        plan = tuple(Change(name, old[name][0] if name in old else None, new[name][0] if name in new else None)
                     for name in {**old, **new} if old.get(name) != new.get(name))
        units = {name: unit for name, (_, unit) in {**old, **new}.items()}
        objects = tuple(_object_changes(before.objects.get(key, {}), after.objects.get(key, {})))
        if status != "changed" or spec or plan or objects:
            out.append(ServiceDiff(key[0], key[1], status, spec, plan, objects,
                                   (before.weights.get(key, ()), after.weights.get(key, ())),
                                   {c.path: units[c.path] for c in plan}))
    return base, out


def _object_changes(before: dict[str, Any], after: dict[str, Any]) -> Iterator[Change]:
    for ref in sorted(set(before) | set(after)):
        if ref not in before:
            yield Change(ref, None, "added")
        elif ref not in after:
            yield Change(ref, "removed", None)
        else:
            for change in changes(before[ref], after[ref]):
                yield Change(f"{ref}: {change.path}", change.before, change.after)


# -- output --------------------------------------------------------------------------------------------------------

def _show(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False) \
        if not isinstance(value, str) else value


LONG = 200  # characters: a rendered value longer than this (a dashboard's JSON) is shown by its start and digest


def _brief(value: Any) -> str:
    """A rendered object's value for a reader: whole when short, else its start, its size and its digest (the
    spec and plan changes above it say why it changed; the JSON report keeps it whole)."""
    shown = _show(value)
    if len(shown) <= LONG:
        return shown
    digest = hashlib.sha256(shown.encode()).hexdigest()[:12]
    return f"{shown[:80]}... ({len(shown):,} characters, sha256 {digest})"


def text(base: str, diffs: list[ServiceDiff]) -> str:
    if not diffs:
        return f"no service changes against {base[:12]}\n"
    out = [f"against {base[:12]}:"]
    for d in diffs:
        out.append(f"{d.service} in {d.environment}: {d.status}")
        for title, items, show in (("spec", d.spec, _show), ("plan", d.plan, None), ("rendered", d.objects, _brief)):
            if not items:
                continue
            out.append(f"  {title}:")
            for c in items:
                if show is None:
                    out.append(f"    {c.path}: {d.figure(c.before, c.path)} -> {d.figure(c.after, c.path)}")
                else:
                    out.append(f"    {c.path}: {show(c.before)} -> {show(c.after)}")
    return "\n".join(out) + "\n"


def chart(title: str, before: tuple[tuple[float, int], ...], after: tuple[tuple[float, int], ...]) -> str:
    """A Mermaid xychart of the canary's weight over time (GitHub renders Mermaid in Markdown): one line per side
    that exists, sampled at every tick time of either plan."""
    times = sorted({at for at, _ in before} | {at for at, _ in after})

    def line(ticks: tuple[tuple[float, int], ...]) -> str:
        values = []
        for t in times:
            held = [w for at, w in ticks if at <= t]
            values.append(str(held[-1] if held else 0))
        return f"    line [{', '.join(values)}]"

    labels = ", ".join(f'"{duration(t) if t else "0s"}"' for t in times)
    sides = [(side, colour) for side, colour in ((before, BEFORE), (after, AFTER)) if side]
    theme = json.dumps({"themeVariables": {"xyChart": {"plotColorPalette": ", ".join(c for _, c in sides)}}})
    return "\n".join(["```mermaid", f"%%{{init: {theme}}}%%", "xychart-beta", f'    title "{title}"',
                      f'    x-axis "time after the revision is detected" [{labels}]',
                      '    y-axis "canary weight (%)" 0 --> 100', *(line(side) for side, _ in sides), "```"])


def markdown(base: str, diffs: list[ServiceDiff]) -> str:
    """The pull-request summary: per changed service and environment, the plan before -> after, a chart of the
    canary's weight over time, and the spec and object changes folded."""
    if not diffs:
        return f"No service changes against `{base[:12]}`.\n"
    out = [f"Changes against `{base[:12]}`\n"]
    for d in diffs:
        out.append(f"### {d.service} in {d.environment}: {d.status}\n")
        before, after = d.weights
        if before or after:
            title = "canary weight, before (grey) and after (blue)" if before and after else "canary weight"
            out.append(chart(title, before, after) + "\n")
        if d.plan:
            out.append("| plan | before | after |\n| --- | --- | --- |")
            out.extend(f"| {c.path} | {d.figure(c.before, c.path)} | {d.figure(c.after, c.path)} |"
                       for c in d.plan)
            out.append("")
        for title, items, show in (("spec", d.spec, _show), ("rendered objects", d.objects, _brief)):
            if items:
                out.append(f"<details><summary>{title}: {len(items)} change(s)</summary>\n")
                out.extend(f"- `{c.path}`: `{show(c.before)}` -> `{show(c.after)}`" for c in items)
                out.append("\n</details>\n")
    return "\n".join(out)


__all__ = ["Change", "ServiceDiff", "changes", "chart", "diff", "markdown", "text"]
