"""CustomResourceDefinition YAML -> strict standalone JSON Schemas, one per served version.

What the API server does with an object, the schema says up front:

* an object schema without ``x-kubernetes-preserve-unknown-fields`` gets ``additionalProperties: false`` (the
  server would prune the unknown field and Flux would report drift forever; kubeconform's ``-strict`` rejects it
  for core kinds, so it does here too), the root included;
* ``x-kubernetes-preserve-unknown-fields: true`` keeps the object open (HelmRelease ``values``);
* ``x-kubernetes-int-or-string: true`` (and the legacy ``format: int-or-string``) accepts an integer or a string
  and nothing else: kubeconform's openapi2jsonschema.py leaves such a field unconstrained;
* ``nullable: true`` adds ``null``; OpenAPI 3.0's boolean ``exclusiveMinimum``/``exclusiveMaximum`` become the
  JSON Schema numbers; ``x-kubernetes-embedded-resource`` objects accept apiVersion, kind and metadata;
* CEL rules (``x-kubernetes-validations``) and descriptions are dropped: kubeconform does not evaluate CEL;
* a ``pattern`` is Go RE2, as the API server reads it; RE2's case-insensitive flag ``(?i)`` has no ECMA 262
  equivalent, and a draft-07 schema's patterns must be ECMA 262 (the in-process engine, jsonschema-rs, refuses
  the schema otherwise): its letters become both cases (prometheus-operator's ``partial_response_strategy``,
  ``^(?i)(abort|warn)?$``, becomes ``^([aA][bB][oO][rR][tT]|[wW][aA][rR][nN])?$``).
"""

from __future__ import annotations

import os
from typing import Any

from ..findings import Finding, error

SCHEMA_DRAFT = "http://json-schema.org/draft-07/schema#"

_STRING_MAP = {"type": ["object", "null"], "additionalProperties": {"type": "string"}}
# metadata of a custom resource is the API server's ObjectMeta, not part of the CRD schema (which says only
# ``type: object``): strict, with the fields users write, so ``labels: {version: 1}`` is caught
OBJECT_META: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
        "finalizers": {"type": ["array", "null"], "items": {"type": "string"}},
        "ownerReferences": {"type": ["array", "null"], "items": {"type": "object"}},
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": {"type": ["string", "null"]},
        "deletionGracePeriodSeconds": {"type": ["integer", "null"]},
        "managedFields": {"type": ["array", "null"], "items": {"type": "object"}},
        "selfLink": {"type": "string"},
    },
}


def ecma_pattern(pattern: str) -> str:
    """An RE2 pattern as ECMA 262: what follows a ``(?i)`` flag matches letters of either case. Other patterns are
    returned unchanged."""
    head, flag, tail = pattern.partition("(?i)")
    if not flag:
        return pattern
    tail = tail.replace("(?i)", "")  # a later flag changes nothing: all that follows the first is folded
    out: list[str] = []
    i, in_class = 0, False
    while i < len(tail):
        c = tail[i]
        if c == "\\" and i + 1 < len(tail):
            out.append(tail[i:i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
                out.append(c)
            elif c.isalpha() and tail[i + 1:i + 2] == "-" and tail[i + 2:i + 3].isalpha():
                low, high = c, tail[i + 2]
                out.append(f"{low}-{high}{low.swapcase()}-{high.swapcase()}")
                i += 3
                continue
            else:
                out.append(c + c.swapcase() if c.isalpha() else c)
        elif c == "[":
            in_class = True
            out.append(c)
        else:
            out.append(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c)
        i += 1
    return head + "".join(out)


def convert_schema(node: Any, root: bool = False, branch: bool = False) -> Any:
    """One OpenAPI v3 structural schema node -> a strict JSON Schema node.

    ``branch``: the node is inside allOf/anyOf/oneOf/not, where a structural schema may only add value checks to
    fields declared outside; closing it would reject the siblings, so it stays open.
    """
    if isinstance(node, list):
        return [convert_schema(v, branch=branch) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("description", "x-kubernetes-validations", "nullable", "x-kubernetes-int-or-string",
                   "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource"):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: convert_schema(sub, branch=branch) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = convert_schema(value, branch=branch) if isinstance(value, dict | list) else value
        elif key == "not":
            out[key] = convert_schema(value, branch=True)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [convert_schema(sub, branch=True) for sub in value]
        elif key == "pattern" and isinstance(value, str):
            out[key] = ecma_pattern(value)
        else:
            out[key] = value

    int_or_string = node.get("x-kubernetes-int-or-string") is True or node.get("format") == "int-or-string"
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if int_or_string:
        out.pop("format", None)
        out["type"] = ["integer", "string"]
    for bound in ("Minimum", "Maximum"):
        flag = out.get("exclusive" + bound)
        if isinstance(flag, bool):
            limit = out.pop(bound.lower(), None)
            del out["exclusive" + bound]
            if flag and limit is not None:
                out["exclusive" + bound] = limit
            elif limit is not None:
                out[bound.lower()] = limit
    if node.get("x-kubernetes-embedded-resource") is True:
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    is_object = out.get("type") == "object" or "properties" in out
    if is_object and not preserve and not branch and "additionalProperties" not in out:
        if root:
            props = out.setdefault("properties", {})
            props.setdefault("apiVersion", {"type": "string"})
            props.setdefault("kind", {"type": "string"})
            props.setdefault("metadata", {"type": "object"})
        out["additionalProperties"] = False
    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            out["type"] = [*kind, "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def convert_crd(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Catalog path -> schema for every served version of one CRD document."""
    spec = doc.get("spec") or {}
    group = str(spec.get("group") or "")
    kind = str((spec.get("names") or {}).get("kind") or "")
    if not group or not kind:
        raise ValueError("a CustomResourceDefinition without spec.group or spec.names.kind")
    legacy = (spec.get("validation") or {}).get("openAPIV3Schema")
    out: dict[str, dict[str, Any]] = {}
    versions = spec.get("versions") or ([{"name": spec.get("version"), "served": True}] if spec.get("version") else [])
    for version in versions:
        if not isinstance(version, dict) or version.get("served") is False:
            continue
        schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or legacy
        if not isinstance(schema, dict):
            continue
        converted = convert_schema(schema, root=True)
        converted["properties"]["metadata"] = OBJECT_META
        converted["$schema"] = SCHEMA_DRAFT
        out[f"{group}/{kind.lower()}_{version['name']}.json"] = converted
    return out


def _untemplate(text: str) -> tuple[str | None, str]:
    """A Helm template of a CRD whose only template lines are in its metadata -> the YAML without them.

    Linkerd ships its CRDs that way (three ``{{ ... }}`` lines of labels and annotations). Any template line at or
    after ``spec:`` would change the schema, so such a file is refused with the reason.
    """
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    dropped = 0
    in_spec = False
    for line in lines:
        if line.startswith("spec:"):
            in_spec = True
        elif line.startswith("---"):
            in_spec = False
        if "{{" in line:
            if in_spec:
                return None, "a Helm template with template code inside spec (render it with `helm template` first)"
            dropped += 1
            continue
        kept.append(line)
    return "".join(kept), f"Helm template: dropped {dropped} templated metadata line(s)"


def load_crd_files(paths: list[str]) -> tuple[dict[str, dict[str, Any]], list[str], list[Finding]]:
    """CRD files or directories (recursively: *.yaml, *.yml, *.json, *.tpl) -> (schemas, notes, findings)."""
    import yaml

    files: list[str] = []
    notes: list[str] = []
    findings: list[Finding] = []
    for path in paths:
        if os.path.isdir(path):
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                for name in sorted(filenames):
                    if name.endswith((".yaml", ".yml", ".json", ".tpl")):
                        files.append(os.path.join(dirpath, name))
        elif os.path.isfile(path):
            files.append(path)
        else:
            findings.append(error("schemas-crd-missing", path, 0, 0, f"{path}: no such file or directory",
                                  "Pass CRD YAML files or directories that hold them."))
    schemas: dict[str, dict[str, Any]] = {}
    for file in files:
        with open(file, encoding="utf-8") as fh:
            text = fh.read()
        if file.endswith(".tpl") or "{{" in text:
            cleaned, why = _untemplate(text)
            if cleaned is None:
                notes.append(f"skipped {file}: {why}")
                continue
            notes.append(f"{file}: {why}")
            text = cleaned
        try:
            docs = [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d is not None]
        except yaml.YAMLError as e:
            findings.append(error("schemas-crd-yaml", file, 0, 0, f"not valid YAML: {e}".replace("\n", " "),
                                  "Pass CustomResourceDefinition YAML files."))
            continue
        crds: list[dict[str, Any]] = []
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "List":
                crds.extend(i for i in doc.get("items") or [] if isinstance(i, dict))
            elif isinstance(doc, dict):
                crds.append(doc)
        found = 0
        for doc in crds:
            if doc.get("kind") != "CustomResourceDefinition":
                continue
            try:
                converted = convert_crd(doc)
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                findings.append(error("schemas-crd-invalid", file, 0, 0, f"cannot convert a CRD: {e}",
                                      "Check the file is a valid apiextensions.k8s.io/v1 CustomResourceDefinition."))
                continue
            found += len(converted)
            schemas.update(converted)
        if not found:
            notes.append(f"skipped {file}: no CustomResourceDefinition with a schema in it")
    return schemas, notes, findings
