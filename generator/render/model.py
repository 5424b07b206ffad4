"""The service the builders read (one spec in one environment), what a builder returns, and the small pieces
several builders and the CLI share.

Everything the templates print is computed as plain data (by the builders in :mod:`.builders`); the templates only
lay it out. Each object also gets origin hints: JSON pointers inside the object mapped to the spec path they come
from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from .engine import Doc, Expected

if TYPE_CHECKING:
    from ..spec.types import Metadata, Resolved, Spec

PROMETHEUS = "http://prometheus.linkerd-viz:9090"
SELECTOR_LABEL = "app.kubernetes.io/instance"
# Labels Flagger may use as its selector (flag -selector-labels, cmd/flagger/main.go): it renames their value to
# <value>-primary on the primary pods, so a policy or PDB selecting on one of them must list both values.
FLAGGER_SELECTOR_LABELS = ("app", "name", "app.kubernetes.io/name")
HOME_ENVIRONMENT = "production"

Part = TypeVar("Part")
Origin = dict[str, tuple[str | int, ...]]  # JSON pointer inside an object -> the spec path it comes from


class Built(NamedTuple):
    """One object a builder made: the file it goes in (in the service's directory), its document, its origins."""

    file: str
    doc: Doc
    origin: Origin


class Service:
    """One service in one environment, as every builder reads it: the resolved spec (every default filled in by
    ``spec.resolve``), the service's name and Kubernetes namespace, and the context every one of its templates
    shares (``name``, ``namespace``, ``labels``: apps/_meta.j2).

    ``selector_label`` is the pod label, with the service name as value, that the chart puts on every pod (the
    Server and the PodDisruptionBudget select on it); one of Flagger's selector labels is matched with both
    values, <name> and <name>-primary."""

    __slots__ = ("_parts", "context", "environment", "meta", "name", "namespace", "port", "selector", "spec")

    def __init__(self, resolved: Resolved, selector_label: str = SELECTOR_LABEL) -> None:
        self.meta: Metadata = resolved["metadata"]
        self.environment = str(resolved["environment"])
        self.spec: Spec = resolved["spec"]
        self.name = str(self.meta["name"])
        self.namespace = namespace_for(str(self.meta["namespace"]), self.environment)
        self.port = int(self.spec["workload"]["port"])
        self.selector = pod_selector(selector_label, self.name)
        labels = {
            "app.kubernetes.io/name": self.name,
            "app.kubernetes.io/managed-by": "rollouts",
            "app.kubernetes.io/part-of": self.name,
            "rollouts.dev/environment": self.environment,
            "rollouts.dev/owner": str(self.meta.get("owner", "")),
        }
        self.context: dict[str, Any] = {"name": self.name, "namespace": self.namespace, "labels": labels}
        self._parts: dict[Callable[[Service], Any], Any] = {}

    def part(self, compute: Callable[[Service], Part]) -> Part:
        """``compute(self)``, computed once for this service: a part that several builders read (the metrics
        are in the Canary and in the MetricTemplates, the alerts in the Canary and the AlertProviders)."""
        if compute not in self._parts:
            self._parts[compute] = compute(self)
        return cast(Part, self._parts[compute])

    @property
    def canary_url(self) -> str:
        """The canary Service's URL, where gates send their requests."""
        return f"http://{self.name}-canary.{self.namespace}:{self.port}"

    def object(self, file: str, template: str, context: dict[str, Any], api_version: str, kind: str, name: str,
               origin: Origin) -> Built:
        """An object of this service (in its namespace): ``template`` rendered with the shared context and
        ``context``, in ``file``; it must parse back to ``api_version``/``kind``/``name``."""
        return Built(file, Doc(template, {**self.context, **context}, Expected(api_version, kind, name,
                                                                              self.namespace)), origin)


def namespace_for(namespace: str, environment: str) -> str:
    """The Kubernetes namespace of a service in an environment: <namespace> in production, else <namespace>-<env>."""
    return namespace if environment == HOME_ENVIRONMENT else f"{namespace}-{environment}"


def pod_selector(label: str, name: str) -> dict[str, Any]:
    """A LabelSelector matching the pods of both the primary and the canary Deployment."""
    if label in FLAGGER_SELECTOR_LABELS:
        return {"matchExpressions": [{"key": label, "operator": "In", "values": [name, f"{name}-primary"]}]}
    return {"matchLabels": {label: name}}


class UserSecret(NamedTuple):
    """A Secret the rendered objects read and the tree does not hold: the user creates it in ``namespace``."""

    namespace: str
    name: str
    keys: tuple[str, ...]
    used_by: str  # Kind/name of the object that reads it


def user_secrets(files: Mapping[str, str]) -> list[UserSecret]:
    """The Secrets the rendered objects read and the tree never holds (no secret lands in Git), from the rendered
    texts by path: each AlertProvider's webhook address, key ``address`` (Flagger skips an alert whose Secret or
    key is missing, and only logs it: pkg/controller/events.go), and each Secret the analysis controller's
    StatefulSet mounts: its signing key (keys ``key`` and ``password``) and those the controller configs name, with
    the keys they name. Sorted by namespace and name."""
    import json

    import yaml

    def docs(text: str) -> list[Any]:
        return [d for d in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
                if isinstance(d, dict)]

    found = []
    named: dict[str, set[str]] = {}  # Secret -> keys, from the controller configs
    for path, text in files.items():
        if path.endswith("/analysis-controller/config.yaml"):
            for doc in docs(text):
                for entry in json.loads(doc["data"]["config.json"])["services"].values():
                    refs = [r for f in (entry.get("probes") or {}).get("flows", []) for s in f["steps"]
                            for r in s.get("headersFromSecrets", {}).values()]
                    refs += [n["secret"] for n in entry.get("notifications", [])]
                    for ref in refs:
                        named.setdefault(ref["secret"], set()).add(ref["key"])
    for path, text in files.items():
        if path.endswith("/alerts.yaml"):
            for doc in docs(text):
                if doc.get("kind") == "AlertProvider":
                    meta, ref = doc["metadata"], doc["spec"].get("secretRef") or {}
                    if ref.get("name"):
                        found.append(UserSecret(str(meta["namespace"]), str(ref["name"]), ("address",),
                                                f"AlertProvider/{meta['name']}"))
        if path.endswith("/analysis-controller/statefulset.yaml"):
            for doc in docs(text):
                if doc.get("kind") != "StatefulSet":
                    continue
                meta = doc["metadata"]
                for volume in doc["spec"]["template"]["spec"].get("volumes", []):
                    name = (volume.get("secret") or {}).get("secretName")
                    if name:
                        keys = tuple(sorted(named.get(name, ())) or ("key", "password"))
                        found.append(UserSecret(str(meta["namespace"]), str(name), keys,
                                                f"StatefulSet/{meta['name']}"))
    return sorted(found)


def kustomization(resources: list[str]) -> Doc:
    return Doc("apps/kustomization.yaml.j2", {"resources": resources},
               Expected("kustomize.config.k8s.io/v1beta1", "Kustomization", "", ""))


def namespace_doc(namespace: str, environment: str) -> Doc:
    """An application namespace: meshed (linkerd.io/inject), so its pods start linkerd-init, which needs the
    NET_ADMIN and NET_RAW capabilities to set up iptables; the baseline and restricted Pod Security Standards
    refuse them, so where Pod Security Admission enforces one of those by default the namespace opts out."""
    labels = {"app.kubernetes.io/managed-by": "rollouts", "rollouts.dev/environment": environment,
              "pod-security.kubernetes.io/enforce": "privileged"}
    return Doc("apps/namespace.yaml.j2", {"namespace": namespace, "labels": labels},
               Expected("v1", "Namespace", namespace, ""))
