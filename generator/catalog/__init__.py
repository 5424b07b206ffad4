"""The offline schema catalog that ``rollouts validate`` hands to kubeconform.

Layout (the flux-schema / Datree CRDs-catalog layout): ``DIR/<group>/<kind>_<version>.json``, lowercased kind,
group ``core`` for the core API group, every schema standalone (no ``$ref`` that leaves the file) and strict
(``additionalProperties: false`` wherever Kubernetes would drop or reject an unknown field). ``DIR/catalog.json``
records where the schemas came from.

kubeconform finds a schema with :data:`KUBECONFORM_TEMPLATE`: kubeconform names the core group ``v1`` (the
``apiVersion`` has no group), so the template maps it to ``core`` itself and no symlink is needed.
"""

from __future__ import annotations

import hashlib
import json
import os

from ..errors import RolloutsError
from . import kubernetes
from .build import build
from .layout import (
    DEFAULT_DIR,
    DEFAULT_KUBERNETES_VERSION,
    FETCHED_DIR,
    INDEX_FILE,
    SCHEMAS_ENV,
    SHIPPED_DIR,
    kubeconform_template,
    schema_path,
)

__all__ = ["DEFAULT_DIR", "DEFAULT_KUBERNETES_VERSION", "FETCHED_DIR", "INDEX_FILE", "SCHEMAS_ENV", "SHIPPED_DIR",
           "catalog_dir", "find_catalog", "kubeconform_template", "schema_path", "shipped_catalog"]


def shipped_key(kubernetes_version: str) -> str:
    """Names the shipped schemas (generator/catalog/shipped, made by scripts/build-schemas) and the Kubernetes core
    kinds of kubernetes-validate they are combined with: a catalog built from other ones is rebuilt."""
    with open(os.path.join(SHIPPED_DIR, "manifest.json"), "rb") as fh:
        manifest = fh.read()
    return hashlib.sha256(manifest + kubernetes_version.encode() + kubernetes.source_root().encode()).hexdigest()[:16]


def _shipped_mark(catalog: str) -> str | None:
    """The shipped key a catalog was built with, None for a catalog the user built (or none at all)."""
    try:
        with open(os.path.join(catalog, INDEX_FILE), encoding="utf-8") as fh:
            index = json.load(fh)
    except (OSError, ValueError):
        return None
    mark = index.get("shipped") if isinstance(index, dict) else None
    return mark if isinstance(mark, str) else None


def shipped_catalog(out: str, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION) -> str:
    """``out`` holding the shipped schemas plus the Kubernetes core kinds (built unless already current)."""
    version = kubernetes.pick_version(kubernetes_version)
    key = shipped_key(version)
    if _shipped_mark(out) != key:
        build(out, version, None, [SHIPPED_DIR], shipped=key)
    return out


def catalog_dir(root: str, explicit: str | None = None) -> str:
    """Where the catalog is: ``--schemas``, else ``$ROLLOUTS_SCHEMAS``, else ``.rollouts/schemas`` (which may not
    exist yet: :func:`find_catalog` makes it)."""
    chosen = explicit or os.environ.get(SCHEMAS_ENV)
    return os.path.abspath(chosen or os.path.join(root, DEFAULT_DIR))


def find_catalog(root: str, explicit: str | None = None) -> str:
    """The catalog validate uses. ``--schemas`` or ``$ROLLOUTS_SCHEMAS`` must exist. Else ``.rollouts/schemas``
    when the user built it (``schemas build``/``fetch``); otherwise it is built there offline, once: from what
    ``rollouts schemas fetch`` left in ``.rollouts/`` when there is such, else from the schemas this package ships
    (rebuilt when the package ships other ones). A catalog the user built is never touched."""
    path = catalog_dir(root, explicit)
    if explicit or os.environ.get(SCHEMAS_ENV):
        if not os.path.isdir(path):
            where = "--schemas" if explicit else f"${SCHEMAS_ENV}"
            raise RolloutsError(
                f"no schema catalog at {path} ({where})",
                "Build one offline with `rollouts schemas build` (Kubernetes core kinds from kubernetes-validate; "
                "add --crds DIR and --catalog DIR for Flagger, Flux, Gateway API and Linkerd kinds), or download "
                "the pinned CRDs with `rollouts schemas fetch` when online.")
    elif not os.path.isdir(path) or _shipped_mark(path) is not None:  # not a catalog the user built
        if has_fetched(root):
            _build_from_fetched(root, path)
        else:
            shipped_catalog(path)
    # a flux-schema checkout: the catalog proper is one level down
    latest = os.path.join(path, "latest")
    if not os.path.exists(os.path.join(path, INDEX_FILE)) and os.path.isdir(os.path.join(latest, "core")):
        return latest
    return path


def has_fetched(root: str) -> bool:
    """Whether ``rollouts schemas fetch`` left CRDs or catalogs under the project to build a catalog from."""
    return any(os.path.isdir(os.path.join(root, FETCHED_DIR, d)) for d in ("crds", "catalogs"))


def _build_from_fetched(root: str, out: str) -> None:
    """Build ``out`` from the Kubernetes core kinds of kubernetes-validate and the catalogs and CRDs that
    ``rollouts schemas fetch`` left in ``.rollouts/catalogs`` and ``.rollouts/crds``."""
    fetched = os.path.join(root, FETCHED_DIR)
    crds = os.path.join(fetched, "crds")
    catalogs = []  # every <name>/ extracted beside its <name>.tar.gz
    for dirpath, dirnames, filenames in os.walk(os.path.join(fetched, "catalogs")):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".tar.gz") and os.path.isdir(os.path.join(dirpath, name[: -len(".tar.gz")])):
                catalogs.append(os.path.join(dirpath, name[: -len(".tar.gz")]))
    build(out, DEFAULT_KUBERNETES_VERSION, [crds] if os.path.isdir(crds) else None, catalogs)
