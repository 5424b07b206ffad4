"""Where things are in a schema catalog directory (the flux-schema / Datree CRDs-catalog layout): see the package's
docstring."""

from __future__ import annotations

import os

from ..workdir import NAME as WORKDIR

INDEX_FILE = "catalog.json"
SCHEMAS_ENV = "ROLLOUTS_SCHEMAS"
DEFAULT_DIR = os.path.join(WORKDIR, "schemas")
FETCHED_DIR = WORKDIR  # where `rollouts schemas fetch` keeps its downloads: crds/ and catalogs/
DEFAULT_KUBERNETES_VERSION = "1.34"


def kubeconform_template(catalog: str) -> str:
    """The ``-schema-location`` for a catalog directory (a Go template; it ends in ``.json`` on purpose)."""
    group = '{{ if eq .Group "v1" }}core{{ else }}{{ .Group }}{{ end }}'
    return f"{os.path.abspath(catalog)}/{group}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json"


def schema_path(catalog: str, api_version: str, kind: str) -> str:
    """The file holding the schema of ``kind`` in ``api_version`` (it may not exist)."""
    group, _, version = api_version.rpartition("/")
    return os.path.join(catalog, group or "core", f"{kind.lower()}_{version}.json")


SHIPPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shipped")
