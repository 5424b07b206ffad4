"""The in-process fallback: the same catalog, the same strictness, jsonschema-rs instead of kubeconform.

Used only when kubeconform is not installed (validate then says so in a warning). Messages are jsonschema-rs's,
not kubeconform's; paths, files and positions are the same.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from ..catalog import schema_path
from ..findings import Finding
from .kubeconform import error_finding
from .manifests import KUSTOMIZATION_FILES, MANIFEST_SUFFIXES, Locator, pointer_escape, tree_files

_UNEXPECTED = re.compile(r"\(((?:'[^']*'(?:, )?)+) (?:was|were) unexpected\)")


def _files(files: list[str]) -> list[str]:
    return [f for f in files if f.endswith(MANIFEST_SUFFIXES) and os.path.basename(f) not in KUSTOMIZATION_FILES]


class _UniqueKeyLoader:
    """A PyYAML loader that refuses duplicate keys, as kubeconform -strict does."""

    @staticmethod
    def make() -> Any:
        import yaml

        base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class Loader(base):  # type: ignore[misc]
            def construct_mapping(self, node: Any, deep: bool = False) -> Any:
                seen = set()
                for key_node, _ in node.value:
                    key = self.construct_object(key_node, deep=deep)
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {key!r}", key_node.start_mark)
                    seen.add(key)
                return super().construct_mapping(node, deep=deep)

        return Loader


def _message(err: Any, pointer: str) -> str:
    """jsonschema-rs's message; for a failed oneOf/anyOf, why each alternative failed (as kubeconform says)."""
    context = getattr(getattr(err, "kind", None), "context", None)
    if not context:
        return str(err.message)
    reasons = []
    for branch in context:
        for sub in branch:
            sub_pointer = "".join("/" + pointer_escape(s) for s in sub.instance_path)
            reasons.append(sub.message if sub_pointer == pointer else f"{sub_pointer}: {sub.message}")
    return f"{err.message}: " + "; ".join(dict.fromkeys(reasons))


def validate_tree(tree: str, catalog: str, locator: Locator, skip_kinds: tuple[str, ...] = (),
                  files: list[str] | None = None) -> list[Finding]:
    """Every object of the tree against its schema (``files``: the tree's files, when already listed)."""
    import jsonschema_rs
    import yaml

    loader = _UniqueKeyLoader.make()
    validators: dict[str, Any] = {}
    findings: list[Finding] = []
    skip = set(skip_kinds) | {"kustomize.config.k8s.io/v1beta1/Kustomization"}
    for file in _files(tree_files(tree) if files is None else files):
        try:
            with open(file, encoding="utf-8") as fh:
                docs = list(yaml.load_all(fh, Loader=loader))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            findings.append(error_finding(locator, file, "", "", "", f"error unmarshalling resource: {e}", catalog))
            continue
        for data in docs:
            if not isinstance(data, dict):
                continue
            kind, api_version = str(data.get("kind") or ""), str(data.get("apiVersion") or "")
            name = str((data.get("metadata") or {}).get("name") or "")
            if kind in skip or f"{api_version}/{kind}" in skip:
                continue
            path = schema_path(catalog, api_version, kind)
            if path not in validators:
                try:
                    with open(path, encoding="utf-8") as fh:
                        validators[path] = jsonschema_rs.validator_for(json.load(fh))
                except OSError:
                    validators[path] = None
            validator = validators[path]
            if validator is None:
                findings.append(error_finding(locator, file, kind, name, api_version,
                                              f"could not find schema for {kind}", catalog))
                continue
            errors = list(validator.iter_errors(data))
            if not errors:
                continue
            doc = locator.find(file, kind, name, api_version)
            for err in errors:
                pointer = "".join("/" + pointer_escape(s) for s in err.instance_path)
                m = _UNEXPECTED.search(err.message)
                if m:
                    findings += [locator.unknown_field(file, doc, pointer, key)
                                 for key in re.findall(r"'([^']*)'", m.group(1))]
                else:
                    findings.append(locator.finding("schema-violation", file, doc, pointer,
                                                    f"{pointer or '/'}: {_message(err, pointer)}"))
    return findings
