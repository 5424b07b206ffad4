"""``.rollouts/``: the project's working directory (schema catalog, downloads, caches), never part of a commit.

Whatever creates it creates it here, with a ``.gitignore`` of ``*`` inside, so that a user's ``git add -A`` never
picks it up, in this repository or in any other (no line in the user's own ``.gitignore`` is needed).
"""

from __future__ import annotations

import os

NAME = ".rollouts"
GITIGNORE = "*\n"  # everything inside, the .gitignore itself included


def workdir(root: str, *parts: str) -> str:
    """``root/.rollouts/<parts>``, made (with the ``.gitignore``) if it does not exist yet."""
    return makedirs(os.path.join(root, NAME, *parts))


def makedirs(path: str) -> str:
    """``os.makedirs(path, exist_ok=True)``; every ``.rollouts`` directory on the way gets its ``.gitignore``.
    For directories a caller names (``--out``, a cache directory): only one called ``.rollouts`` is marked."""
    path = os.path.abspath(path)
    os.makedirs(path, exist_ok=True)
    head = path
    while True:
        if os.path.basename(head) == NAME:
            ignore(head)
        parent = os.path.dirname(head)
        if parent == head:
            return path
        head = parent


def ignore(directory: str) -> None:
    """Write ``directory/.gitignore`` unless it is there (a user's own one is kept as it is)."""
    target = os.path.join(directory, ".gitignore")
    if os.path.lexists(target):
        return
    tmp = f"{target}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(GITIGNORE)
    os.replace(tmp, target)
