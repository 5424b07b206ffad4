"""The analysis controller's image build context (``rollouts controller build-context DIR``): a Dockerfile, the
rollouts wheel, and requirements.txt with the exact versions of everything ``rollouts[controller]`` needs, as
installed here. Podman or buildah build the image from it offline (the wheels of the requirements go in
``wheels/`` too: ``wheelhouse`` copies them from a directory, such as one ``pip download -r requirements.txt``
filled where an index is reachable).

The same sources give the same bytes: the wheel is zipped here with fixed timestamps and sorted entries (no
``wheel`` package needed, none is installed offline), requirements are sorted, the Dockerfile is a template.
Outside generator/controller/ on purpose: the controller imports nothing of the render, this module reads its
templates.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable
from typing import Any

from .errors import RolloutsError
from .project import Project
from .render.engine import template
from .workdir import makedirs

DEFAULT_BASE_IMAGE = "localhost/rollouts/python-base:bookworm"
EXTRA = "controller"
DOCKERFILE_TEMPLATE = "controller/Dockerfile.j2"
IMAGE_REFERENCE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*[a-z0-9]$")  # no space, newline or quote can slip in
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say: the wheel's bytes depend only on its files


def source_root() -> str:
    """The checkout the installed package comes from (its pyproject.toml beside generator/)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.isfile(os.path.join(root, "pyproject.toml")):
        raise RolloutsError("rollouts controller build-context needs the rollouts source checkout",
                            "Run it from a checkout installed with pip install -e . (the wheel is built from it).")
    return root


def build_context(out_dir: str, project: Project, *, wheelhouse: str | None = None) -> list[str]:
    """Write the build context into ``out_dir``; return the files written (relative, sorted)."""
    base_image = str(project.controller.get("baseImage") or DEFAULT_BASE_IMAGE)
    if not IMAGE_REFERENCE.match(base_image):
        raise RolloutsError(f"controller.baseImage {base_image!r} is not an image reference",
                            "Write REPO@sha256:<digest>, such as docker.io/library/python@sha256:...")
    root = source_root()
    pyproject = _pyproject(root)
    wheels = os.path.join(out_dir, "wheels")
    makedirs(wheels)
    wheel = build_wheel(root, pyproject, wheels)
    requirements = pinned_requirements(pyproject)
    written = {"requirements.txt": "".join(f"{line}\n" for line in requirements),
               "Dockerfile": dockerfile(base_image, wheel)}
    for name, text in written.items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    files = [*written, f"wheels/{wheel}"]
    if wheelhouse:
        files += copy_wheels(wheelhouse, wheels, requirements)
    return sorted(files)


def dockerfile(base_image: str, wheel: str) -> str:
    """The Dockerfile, from templates/controller/Dockerfile.j2 by the render's engine: every value is a quoted
    ARG default (the one filter, ``| yaml``, writes a JSON string, which Dockerfile ARG reads as quoted)."""
    text: str = template(DOCKERFILE_TEMPLATE).render(base_image=base_image, wheel=wheel)
    return text


def _pyproject(root: str) -> dict[str, Any]:
    with open(os.path.join(root, "pyproject.toml"), "rb") as fh:
        return tomllib.load(fh)


def pinned_requirements(pyproject: dict[str, Any]) -> list[str]:
    """``name==version`` for every distribution ``rollouts[controller]`` needs on this interpreter and platform
    (the image's: the same Python minor on Linux), as installed here, sorted by name; rollouts itself is not one."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = pyproject["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for r in project["optional-dependencies"][EXTRA]]
    pinned: dict[str, str] = {}
    todo: list[tuple[Requirement, str]] = [(r, "") for r in wanted]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        if name == "rollouts":  # rollouts[controller] inside the test extra, or a self-reference
            continue
        try:
            dist = distribution(requirement.name)
        except PackageNotFoundError:
            raise RolloutsError(f"{requirement.name} (needed by rollouts[{EXTRA}]) is not installed",
                                "Install the controller extra: pip install -e '.[controller]'.") from None
        if not requirement.specifier.contains(dist.version, prereleases=True):
            raise RolloutsError(f"{requirement.name} {dist.version} is installed, rollouts needs {requirement}",
                                "Install the controller extra again: pip install -e '.[controller]'.")
        first = name not in pinned
        pinned[name] = dist.version
        for sub in dist.requires or []:
            child = Requirement(sub)
            for want_extra in ["", *sorted(requirement.extras)]:
                if first or want_extra:
                    todo.append((child, want_extra))
    return [f"{name}=={version}" for name, version in sorted(pinned.items())]


def copy_wheels(wheelhouse: str, wheels: str, requirements: Iterable[str]) -> list[str]:
    """The wheels of ``requirements`` found in ``wheelhouse``, copied into ``wheels`` (relative names)."""
    from packaging.utils import canonicalize_name, parse_wheel_filename

    wanted = {canonicalize_name(r.split("==")[0]): r.split("==")[1] for r in requirements}
    copied = []
    for name in sorted(os.listdir(wheelhouse)):
        if not name.endswith(".whl"):
            continue
        dist, version, _, _ = parse_wheel_filename(name)
        if wanted.get(dist) == str(version):
            shutil.copyfile(os.path.join(wheelhouse, name), os.path.join(wheels, name))
            copied.append(f"wheels/{name}")
    return copied


def build_wheel(root: str, pyproject: dict[str, Any], out_dir: str) -> str:
    """The rollouts wheel (pure Python, py3-none-any) in ``out_dir``; returns its file name. setuptools' build_py
    lays out the packages and their data exactly as a wheel holds them; the metadata comes from pyproject.toml."""
    project = pyproject["project"]
    name, version = str(project["name"]), str(project["version"])
    with tempfile.TemporaryDirectory(prefix="rollouts-wheel-") as tmp:
        lib = os.path.join(tmp, "lib")
        proc = subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py",
                               "--build-lib", lib], cwd=root,
                              capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode != 0:
            raise RolloutsError(f"setuptools could not lay out the package: {proc.stderr.strip()[-500:]}",
                                "Check that setuptools is installed in this environment.")
        info = f"{name}-{version}.dist-info"
        entries = {_rel(path, lib): _read(path) for path in _files(lib)}
        entries[f"{info}/METADATA"] = metadata(project).encode()
        entries[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: rollouts controller build-context\n"
                                    b"Root-Is-Purelib: true\nTag: py3-none-any\n")
        scripts = project.get("scripts") or {}
        entries[f"{info}/entry_points.txt"] = ("[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in sorted(scripts.items()))).encode()
        record = f"{info}/RECORD"
        lines = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in sorted(entries.items())]
        entries[record] = ("\n".join([*lines, f"{record},,"]) + "\n").encode()
    wheel = f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(out_dir, wheel), "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(entries, key=lambda p: (p.startswith(info), p)):  # the dist-info last, RECORD last of all
            item = zipfile.ZipInfo(path, ZIP_TIME)
            item.external_attr = 0o644 << 16
            item.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(item, entries[path])
    return wheel


def metadata(project: dict[str, Any]) -> str:
    """Core metadata 2.1 of the wheel: what pip reads to install it and its extras."""
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}",
             f"Summary: {project.get('description', '')}", f"Requires-Python: {project['requires-python']}"]
    lines += [f"Requires-Dist: {r}" for r in project["dependencies"]]
    for extra, requirements in sorted((project.get("optional-dependencies") or {}).items()):
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {r}; extra == "{extra}"' for r in requirements]
    return "\n".join(lines) + "\n"


def _files(lib: str) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(lib):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        found += [os.path.join(dirpath, f) for f in filenames if not f.endswith((".pyc", ".pyo"))]
    return sorted(found)


def _rel(path: str, base: str) -> str:
    return os.path.relpath(path, base).replace(os.sep, "/")


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


__all__ = ["DEFAULT_BASE_IMAGE", "build_context", "build_wheel", "dockerfile", "pinned_requirements"]
