"""A local cache that lets ``rollouts render`` and ``render --check`` skip specs whose output is already on disk.

Rendering is a pure function of the spec's bytes, the project's environments, the render options and the code
(the generator package, its templates, Jinja2 and yaml-rs). The cache (``.rollouts/cache/render.json``, never
committed) maps a digest of all of those to the sha256 of every file the spec rendered. When each of those files
is in the tree with exactly that digest, the tree's own bytes are the render's output and the spec is neither
linted nor rendered again; any difference, or any change in the inputs, and the spec is rendered as usual.
Only specs that linted without a single finding, rendered by a run that parsed its output back, are cached.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from typing import Any

from ..project import Project
from ..workdir import makedirs
from .engine import templates_dir
from .options import RenderOptions

CACHE_FILE = os.path.join(".rollouts", "cache", "render.json")
VERSION = 3  # 2: each output keeps the service's facts for the derived files; 3: and whether it is Flux alone

Output = tuple[str, dict[str, str], dict[str, Any], str, dict[str, Any]]  # env, texts, origins, namespace, facts


@cache
def code_digest() -> str:
    """sha256 over the generator package, the templates, and the versions of Jinja2 and yaml-rs."""
    import jinja2
    import yaml_rs

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256(f"{VERSION} {jinja2.__version__} {yaml_rs.__version__}".encode())
    for base, suffixes in ((package, (".py", ".json")), (templates_dir(), (".j2",))):
        for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and d != "templates")
            for name in sorted(filenames):
                if name.endswith(suffixes):
                    path = os.path.join(dirpath, name)
                    digest.update(os.path.relpath(path, base).encode() + b"\0")
                    with open(path, "rb") as fh:
                        digest.update(hashlib.sha256(fh.read()).digest())
    return digest.hexdigest()


class RenderCache:
    """Entries for one project, checked against the tree in ``out_dir``."""

    def __init__(self, project: Project, options: RenderOptions, envs: tuple[str, ...], out_dir: str = "flux",
                 path: str | None = None) -> None:
        self.project = project
        self.path = path or os.path.join(project.root, CACHE_FILE)
        self.out = os.path.abspath(os.path.join(project.root, out_dir))
        self.salt = json.dumps([code_digest(), list(project.environments), list(envs),
                                [options.repo_url, options.branch, options.repo_name, options.verify_secret,
                                 options.develop]])
        self.entries: dict[str, Any] = {}
        self.new: dict[str, Any] = {}
        self.changed = False
        try:
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
            if isinstance(data, dict) and data.get("version") == VERSION:
                self.entries = dict(data.get("entries", {}))
        except (OSError, ValueError):
            pass

    def key(self, display: str, raw: bytes) -> str:
        return hashlib.sha256(f"{self.salt}\0{display}\0".encode() + hashlib.sha256(raw).digest()).hexdigest()

    def lookup(self, key: str) -> tuple[str, list[Output]] | None:
        """The spec's name and outputs, with the texts read from the tree, when every file matches."""
        entry = self.entries.get(key)
        if not isinstance(entry, dict):
            return None
        outputs: list[Output] = []
        try:
            for env, namespace, digests, facts in entry["outputs"]:
                texts = {}
                for file, digest in digests.items():
                    with open(os.path.join(self.out, file[len("flux/"):]), "rb") as fh:
                        raw = fh.read()
                    if hashlib.sha256(raw).hexdigest() != digest:
                        return None
                    texts[file] = raw.decode("utf-8")
                if not isinstance(facts, dict):
                    return None
                outputs.append((env, texts, {}, namespace, facts))  # origins are not cached: see render()
            name = str(entry["name"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self.new[key] = entry
        return name, outputs

    def store(self, key: str, name: str, outputs: list[Output]) -> None:
        self.new[key] = {"name": name, "outputs": [
            [env, namespace, {f: hashlib.sha256(t.encode("utf-8")).hexdigest() for f, t in files.items()}, facts]
            for env, files, _, namespace, facts in outputs]}
        self.changed = True

    def save(self) -> None:
        """Write the entries used or made by this run (atomically; a failure to write is not an error)."""
        if not self.changed and set(self.new) == set(self.entries):
            return
        try:
            makedirs(os.path.dirname(self.path))
            tmp = f"{self.path}.{os.getpid()}.tmp"
            entries = {**self.entries, **self.new}
            if len(entries) > 2 * len(self.new) + 1000:  # keep it from growing without bound
                entries = self.new
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(json.dumps({"version": VERSION, "entries": entries}, separators=(",", ":")))
            os.replace(tmp, self.path)
        except OSError:
            pass
