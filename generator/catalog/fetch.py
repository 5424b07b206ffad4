"""``rollouts schemas fetch``: download pinned upstream CRDs and catalogs, each checked against its sha256.

The pins (``pins.json`` beside this module, or ``--pins FILE``) name commit-pinned URLs; a download whose digest
differs is refused and nothing of it is kept. A pin is a CRD file (kept as ``<cache>/crds/<name>``; the cache is
``.rollouts`` by default), or, with a
``"catalog": "<directory inside the archive>"`` key, a ``.tar.gz`` archive whose catalog directory is extracted to
``<cache>/catalogs/<name>`` (regular files only, nothing outside it). ``schemas build`` then converts and merges
them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from ..errors import RolloutsError
from ..workdir import makedirs

DEFAULT_PINS = os.path.join(os.path.dirname(__file__), "pins.json")
MAX_BYTES = 64 * 1024 * 1024


@dataclass
class FetchReport:
    out: str
    fetched: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    crd_files: list[str] = field(default_factory=list)
    catalogs: list[str] = field(default_factory=list)


def load_pins(path: str | None = None) -> list[dict[str, str]]:
    path = path or DEFAULT_PINS
    try:
        with open(path, encoding="utf-8") as fh:
            data: Any = json.load(fh)
    except (OSError, ValueError) as e:
        raise RolloutsError(f"cannot read the pins file {path}: {e}",
                            'Write {"pins": [{"name": ..., "url": ..., "sha256": ...}]}.') from e
    pins = data.get("pins") if isinstance(data, dict) else None
    if not isinstance(pins, list):
        pins = [None]
    ok = all(
        isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("url"), str)
        and isinstance(p.get("sha256"), str) and len(p["sha256"]) == 64
        and isinstance(p.get("catalog", ""), str) for p in pins)
    if not ok:
        raise RolloutsError(f"{path}: not a pins file",
                            'Write {"pins": [{"name": "dir/file.yaml", "url": "https://...", "sha256": "<64 hex>"}]}.')
    for pin in pins:
        name: str = pin["name"]
        if os.path.isabs(name) or ".." in name.split("/"):
            raise RolloutsError(f"{path}: pin name {name!r} leaves the output directory", "Use a relative name.")
    return list(pins)


def _digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, timeout: float = 30) -> bytes:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data: bytes = response.read(MAX_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise RolloutsError(f"cannot download {url}: {e}",
                            "fetch needs the network; offline, build from local files with "
                            "`rollouts schemas build --crds DIR`.") from e
    if len(data) > MAX_BYTES:
        raise RolloutsError(f"{url}: larger than {MAX_BYTES} bytes", "Check the URL of the pin.")
    return data


def _extract(archive: bytes, inside: str, target: str) -> int:
    """The regular files under ``inside`` of a .tar.gz into ``target`` (swapped in whole); how many."""
    import io
    import shutil
    import tarfile

    prefix = inside.strip("/") + "/"
    parent = os.path.dirname(target)
    makedirs(parent)
    tmp = tempfile.mkdtemp(prefix=".fetch-", dir=parent)
    count = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar:
                if not member.isfile() or not member.name.startswith(prefix):
                    continue
                rel = member.name[len(prefix):]
                parts = rel.split("/")
                if not rel or ".." in parts or rel.startswith("/"):
                    continue
                dest = os.path.join(tmp, *parts)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    continue
                with source, open(dest, "wb") as fh:
                    shutil.copyfileobj(source, fh)
                count += 1
        if not count:
            raise RolloutsError(f"the archive has no files under {inside!r}", "Fix the pin's catalog directory.")
        if os.path.exists(target):
            shutil.rmtree(target)
        os.rename(tmp, target)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise RolloutsError(f"cannot extract the catalog archive: {e}", "Check the pin's URL and digest.") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return count


def fetch(out: str, pins_file: str | None = None, timeout: float = 30) -> FetchReport:
    """Every pinned file into ``out`` (kept when already there with the right digest)."""
    pins = load_pins(pins_file)
    report = FetchReport(os.path.abspath(out))
    for pin in pins:
        parts = pin["name"].split("/")
        catalog = pin.get("catalog", "")
        if catalog:
            target = os.path.join(report.out, "catalogs", *parts) + ".tar.gz"
            extracted = os.path.join(report.out, "catalogs", *parts)
        else:
            target = extracted = os.path.join(report.out, "crds", *parts)
        (report.catalogs if catalog else report.crd_files).append(extracted)
        want = pin["sha256"].lower()
        if os.path.isfile(target) and _digest(target) == want and os.path.exists(extracted):
            report.cached.append(pin["name"])
            continue
        data = download(pin["url"], timeout)
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            raise RolloutsError(
                f"{pin['url']}: sha256 {got} does not match the pin {want}",
                "The upstream file changed or the download was tampered with; nothing was written. "
                "Update the pin only after reviewing the new file.")
        if catalog:
            _extract(data, catalog, extracted)
        makedirs(os.path.dirname(target))  # .rollouts/ (the default) gets its .gitignore
        fd, tmp = tempfile.mkstemp(prefix=".fetch-", dir=os.path.dirname(target))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
        report.fetched.append(pin["name"])
    return report
