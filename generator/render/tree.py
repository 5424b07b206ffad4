"""Writing the rendered tree atomically, owning only what rollouts generated, and checking it for drift.

The new tree is built beside the old one (same file system), then the two directories are exchanged in one
``renameat2(RENAME_EXCHANGE)`` call, so a process killed at any point leaves either the old tree or the new one.
Files that are not listed in the tree's ownership manifest (``.rollouts-owned``) are a user's: they are carried
over into the new tree untouched, and never overwritten.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import RolloutsError
from ..findings import Finding, error
from .derived import derived_files

if TYPE_CHECKING:
    from ..project import Project
    from .result import RenderResult

MANIFEST = ".rollouts-owned"
TMP_MARK = ".rollouts-tmp-"
INFRA_SCOPES = ("flux/bootstrap/", "flux/infrastructure/")


class Plan:
    """The owned files the tree must hold after this render (relative to the output directory)."""

    def __init__(self, files: dict[str, str], services: dict[str, str], scoped: list[str]) -> None:
        self.files = files
        self.services = services
        self.scoped = scoped  # relative prefixes this render is responsible for ("" = everything)


def _rel(path: str) -> str:
    return path[len("flux/"):] if path.startswith("flux/") else path


def read_manifest(out: str) -> tuple[list[str], dict[str, str]]:
    try:
        with open(os.path.join(out, MANIFEST), encoding="utf-8") as fh:
            data = json.load(fh)
        return list(data.get("files", [])), dict(data.get("services", {}))
    except (OSError, ValueError, AttributeError):
        return [], {}


def manifest_text(files: list[str], services: dict[str, str]) -> str:
    return json.dumps({"generator": "rollouts render", "files": sorted(files),
                       "services": dict(sorted(services.items()))}, indent=1, ensure_ascii=False) + "\n"


def plan(project: Project, result: RenderResult, out: str) -> Plan:
    new = {_rel(p): t for p, t in result.files.items()}
    if result.complete:
        files = dict(new)
        services = dict(result.services)
        scoped = [""]
    else:
        old_files, old_services = read_manifest(out)
        scopes = [_rel(s) for s in result.scope]
        if any(p.startswith(INFRA_SCOPES) for p in result.files):
            scopes += [_rel(s) for s in INFRA_SCOPES]
        old_derived = {_rel(p) for p in derived_files(old_services, project.environments, project, previous=out)}
        services = {k: v for k, v in old_services.items()
                    if not any(f"apps/{k}/".startswith(s) for s in scopes)}
        services.update(result.services)
        files = {}
        for rel in old_files:
            if rel in old_derived or rel in new or any(rel.startswith(s) for s in scopes):
                continue
            text = _read(os.path.join(out, rel))
            if text is not None:
                files[rel] = text
        files.update(new)
        derived = {_rel(p): t for p, t in derived_files(services, project.environments, project, previous=out,
                                                         facts=result.facts).items()}
        files.update(derived)
        scoped = scopes + sorted(derived)
    files[MANIFEST] = manifest_text([p for p in files if p != MANIFEST], services)
    return Plan(dict(sorted(files.items())), services, scoped)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return None


def _walk(out: str) -> Iterator[str]:
    """Every file and symlink under ``out``, relative, POSIX separators, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(out):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, out)
        for name in sorted(filenames) + sorted(d for d in dirnames if os.path.islink(os.path.join(dirpath, d))):
            rel = name if rel_dir == "." else os.path.join(rel_dir, name)
            found.append(rel.replace(os.sep, "/"))
    return iter(sorted(found))


@contextlib.contextmanager
def _locked(parent: str) -> Iterator[None]:
    """One render at a time per output directory: an flock on the parent directory itself."""
    import fcntl

    fd = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _exchange(a: str, b: str) -> bool:
    """Atomically swap two directories (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    status: int = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return status == 0


def _recover(out: str, parent: str, base: str) -> None:
    """Clear what a killed render left: temporary trees, or (non-Linux fallback) a tree moved aside."""
    prefix = f".{base}{TMP_MARK}"
    for entry in sorted(os.listdir(parent)):
        if not entry.startswith(prefix):
            continue
        path = os.path.join(parent, entry)
        if entry.endswith("-old") and not os.path.exists(out):
            os.rename(path, out)
        else:
            shutil.rmtree(path, ignore_errors=True)


def write(project: Project, result: RenderResult, out_dir: str = "flux") -> None:
    """Write the tree atomically; a file system error (no space, read-only, a file where a directory goes) is a
    user error naming the path, and leaves the previous tree as it was."""
    if not result.ok:
        raise RolloutsError("the render has errors; nothing was written")
    out = os.path.abspath(os.path.join(project.root, out_dir))
    try:
        _write(project, result, out_dir, out)
    except OSError as e:
        paths = [f for f in (e.filename2, e.filename) if isinstance(f, str) and TMP_MARK not in f]
        where = project.relative(paths[0]) if paths else out_dir
        tmp = os.path.join(os.path.dirname(out), f".{os.path.basename(out)}{TMP_MARK}{os.getpid()}")
        if os.path.lexists(out):  # the previous tree is in place: drop the half-written new one
            shutil.rmtree(tmp, ignore_errors=True)
        raise RolloutsError(f"cannot write {where}: {e.strerror or e}; nothing was changed",
                            f"Check that {out_dir} is a directory you can write to and that the disk has space, "
                            "then render again.") from None


def _write(project: Project, result: RenderResult, out_dir: str, out: str) -> None:
    parent, base = os.path.dirname(out), os.path.basename(out)
    os.makedirs(parent, exist_ok=True)
    with _locked(parent):
        _recover(out, parent, base)
        the_plan = plan(project, result, out)
        old_owned, _ = read_manifest(out)
        owned = set(old_owned) | {MANIFEST}
        existing = list(_walk(out)) if os.path.isdir(out) else []
        user = [p for p in existing if p not in owned]
        clash = [p for p in user if p in the_plan.files]
        if clash:
            raise RolloutsError(f"{out_dir}/{clash[0]} was not generated by rollouts render and would be overwritten",
                                "Move or delete the hand-written file, then render again.")
        same = _same_files(out, existing, owned, the_plan)
        if len(same) == len(the_plan.files) and {p for p in existing if p in owned} == set(the_plan.files):
            return  # nothing changed: leave the tree (and its inode) alone
        tmp = os.path.join(parent, f".{base}{TMP_MARK}{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        os.mkdir(tmp)
        made: set[str] = {tmp}
        for rel, text in the_plan.files.items():
            if rel in same:
                _carry(os.path.join(out, rel), tmp, rel, made)  # unchanged: a hard link, no new data
            else:
                _write_file(tmp, rel, text, made)
        for rel in user:
            _carry(os.path.join(out, rel), tmp, rel, made)
        if os.path.isdir(out):
            if _exchange(tmp, out):
                shutil.rmtree(tmp)
            else:  # fallback: two renames; _recover puts the old tree back if killed in between
                aside = tmp + "-old"
                os.rename(out, aside)
                os.rename(tmp, out)
                shutil.rmtree(aside)
        else:
            os.rename(tmp, out)


def _same_files(out: str, existing: list[str], owned: set[str], the_plan: Plan) -> set[str]:
    """Owned files already in the tree with exactly the planned text."""
    present = {p for p in existing if p in owned}
    return {rel for rel, text in the_plan.files.items()
            if rel in present and _read(os.path.join(out, rel)) == text}


def _write_file(root: str, rel: str, text: str, made: set[str]) -> None:
    path = os.path.join(root, *rel.split("/"))
    directory = os.path.dirname(path)
    if directory not in made:
        os.makedirs(directory, exist_ok=True)
        made.add(directory)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        data = memoryview(text.encode("utf-8"))
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def _carry(src: str, root: str, rel: str, made: set[str]) -> None:
    dst = os.path.join(root, *rel.split("/"))
    directory = os.path.dirname(dst)
    if directory not in made:
        os.makedirs(directory, exist_ok=True)
        made.add(directory)
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _cache_out(project: Project, result: RenderResult) -> str:
    return os.path.abspath(os.path.join(project.root, result.tree_dir))


DIFF_LINES = 40  # lines of a file's diff a drift finding carries when asked to (json, github and sarif output)


def check(project: Project, result: RenderResult, out_dir: str = "flux", *,
          diff_in_findings: bool = False) -> tuple[list[Finding], str]:
    """Findings (one per drifted file) and a unified diff between ``out_dir`` and what the render produced; with
    ``diff_in_findings``, each finding's message also carries the first lines of its file's diff. No ``out_dir``
    at all is one finding."""
    out = os.path.abspath(os.path.join(project.root, out_dir))
    if not os.path.isdir(out):
        return [error("render-drift", out_dir, 0, 0, f"{out_dir}/ does not exist",
                      "run `rollouts render` to create it")], ""
    the_plan = plan(project, result, out)
    old_owned, _ = read_manifest(out)
    candidates = set(the_plan.files)
    for rel in old_owned:
        if any(rel.startswith(s) if s else True for s in the_plan.scoped):
            candidates.add(rel)
    findings: list[Finding] = []
    diff: list[str] = []
    verbatim = {_rel(p) for p in result.from_tree} if os.path.abspath(out) == _cache_out(project, result) else set()
    for rel in sorted(candidates):
        want = the_plan.files.get(rel)
        if rel in verbatim and want is not None:
            continue  # this very text was just read from this file
        have = _read(os.path.join(out, rel))
        if want == have:
            continue
        display = f"{out_dir}/{rel}"
        if have is None:
            message = "is missing: render again"
        elif want is None:
            message = "is no longer generated: render again to delete it"
        else:
            message = "differs from what the specs render"
        lines = [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                 for line in difflib.unified_diff((have or "").splitlines(keepends=True),
                                                  (want or "").splitlines(keepends=True),
                                                  fromfile=f"a/{display}" if have is not None else "/dev/null",
                                                  tofile=f"b/{display}" if want is not None else "/dev/null")]
        diff.extend(lines)
        if diff_in_findings:
            shown = "".join(lines).splitlines()
            more = [f"... ({len(shown) - DIFF_LINES} more lines)"] if len(shown) > DIFF_LINES else []
            message += "\n" + "\n".join(shown[:DIFF_LINES] + more)
        findings.append(error("render-drift", display, 0, 0, f"{display} {message}",
                              "Run rollouts render and commit the result."))
    return findings, "".join(diff)
