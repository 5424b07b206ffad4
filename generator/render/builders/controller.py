"""The analysis controller: the webhook service Flagger will call for its gates (issue 9), and the configuration the
render writes for it.

Two parts:

- the **layer** (``analysis_controller``, an infrastructure builder after Flagger): ServiceAccount and RBAC for the
  state ConfigMaps, a StatefulSet of two replicas (each with its own PersistentVolumeClaim for the signed evidence
  chain and the notification outbox: evidence must survive a restart, and a hash chain has one writer), its
  PodDisruptionBudget, the Service (webhooks on port 8080, the operator endpoints on 8081 apart), and the
  Linkerd policy that admits only Flagger's ServiceAccount to the webhook port;
- per **environment**, the ConfigMap ``analysis-controller-<env>`` in flagger-system (key ``config.json``), the
  services of that environment keyed by their Canary's namespace/name, made by ``environment_configs`` from every
  spec (render.derived: it depends on the set of services). Secrets are never in it: only references to Secret
  keys, mounted under /etc/rollouts/secrets/<secret>/<key>.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ... import controller_hooks
from ..engine import Doc, Expected
from ..infra import MANAGED, PD, Layer, flux_kustomization, object_name
from ..model import PROMETHEUS, Service
from ..options import RenderOptions

if TYPE_CHECKING:
    pass

DIRECTORY = f"{PD}/analysis-controller"
NAMESPACE = "flagger-system"
NAME = "analysis-controller"
CONFIG_DIR = "/etc/rollouts/controller"
SECRETS_DIR = "/etc/rollouts/secrets"
SIGNING_DIR = "/etc/rollouts/signing"
DATA_DIR = "/var/lib/rollouts"
SIGNING_SECRET = "analysis-controller-signing-key"
FLAGGER_ACCOUNT = "flagger"  # the Flagger chart's ServiceAccount (charts/flagger values serviceAccount.name: "")
OPERATOR_ACCOUNT = "rollouts-operator"
WEBHOOK_PORT, OPERATOR_PORT, METRICS_PORT = 8080, 8081, 9102
API_VERSION = "rollouts.dev/v1alpha1"
LABELS = {**MANAGED, "app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "rollouts"}
SELECTOR = {"app.kubernetes.io/name": NAME}


def config_name(environment: str) -> str:
    return f"{NAME}-{environment}"


def state_name(environment: str) -> str:
    return f"{NAME}-state-{environment}"


def secret_ref(ref: Mapping[str, Any]) -> dict[str, str]:
    """A spec's Secret reference ({name, key}) in the controller's words ({secret, key})."""
    return {"secret": str(ref["name"]), "key": str(ref["key"])}


def service_config(svc: Service, spec_digest: str) -> dict[str, Any]:
    """One service's entry in its environment's config: the targets Flagger names, and each configured check
    (a section absent from the spec is absent here: that check does not run)."""
    spec: Any = svc.spec
    policy = spec.get("policy") or {}
    base = f"{svc.name}-primary.{svc.namespace}:{svc.port}"
    entry: dict[str, Any] = {
        "service": svc.name,
        "specDigest": spec_digest,
        # Flagger's canary Deployment is the target itself, the primary is <target>-primary (the Deployments the
        # Linkerd metrics name); the Services are <name>-canary and <name>-primary
        "targets": {"canary": svc.name, "primary": f"{svc.name}-primary", "namespace": svc.namespace,
                    "canaryURL": svc.canary_url, "primaryURL": f"http://{base}"},
        "mtls": {"minShare": 1.0},  # every service is meshed and its Server admits only mTLS
        # the timeout of each webhook its Canary sends to the controller: the controller answers within it
        "timeouts": controller_hooks.timeouts(spec),
    }
    if policy.get("changeWindows"):
        entry["changeWindows"] = [dict(w) for w in policy["changeWindows"]]
    if policy.get("freezes"):
        entry["freezes"] = [dict(f) for f in policy["freezes"]]
    slo = spec.get("slo")
    if slo:
        entry["slo"] = {"successRate": slo["successRate"], "latencyP99": slo.get("latencyP99"),
                        "latencyP95": slo.get("latencyP95"), "interval": slo["interval"]}
    probes = spec.get("probes")
    if probes and probes.get("flows"):
        entry["probes"] = {"flows": [{"name": f["name"],
                                      "steps": [probe_step(s, i) for i, s in enumerate(f["steps"])]}
                                     for f in probes["flows"]]}
    judge = spec.get("judge")
    if judge:
        entry["judge"] = {"window": judge["window"], "minRequests": judge["minRequests"],
                          "pass": judge["passScore"], "marginal": judge["marginalScore"], "noData": judge["noData"],
                          "metrics": [dict(m) for m in judge["metrics"]]}
    if policy.get("errorBudget"):
        entry["errorBudget"] = dict(policy["errorBudget"])
    if policy.get("approval"):
        entry["approval"] = {"required": bool(policy["approval"]["required"])}
    if spec.get("notifications"):
        entry["notifications"] = [{"name": n["name"], "url": n["url"], "events": list(n["events"]),
                                   "secret": secret_ref(n["secretRef"])} for n in spec["notifications"]]
    return entry


def probe_step(step: Mapping[str, Any], position: int) -> dict[str, Any]:
    """One step as the controller runs it; an unnamed step is step-<n>, as the controller and lint name it."""
    out: dict[str, Any] = {"name": step.get("name") or f"step-{position + 1}", "method": step["method"],
                           "path": step["path"],
                           "headers": dict(step.get("headers") or {}),
                           "headersFromSecrets": {h: secret_ref(r) for h, r in
                                                  (step.get("headersFromSecrets") or {}).items()},
                           "expectStatus": step["expectStatus"], "latencyBudget": step["latencyBudget"]}
    for key in ("body", "bodyMatch"):
        if key in step:
            out[key] = step[key]
    if step.get("capture"):
        out["capture"] = dict(step["capture"])
    return out


def spec_digest(raw: bytes) -> str:
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


def environment_config(environment: str, services: Mapping[str, dict[str, Any]]) -> str:
    """The config.json of one environment (sorted keys: the same services give the same bytes)."""
    config = {"apiVersion": API_VERSION, "kind": "AnalysisControllerConfig", "environment": environment,
              "prometheus": {"address": PROMETHEUS, "timeout": "5s"}, "services": dict(services)}
    return json.dumps(config, sort_keys=True, ensure_ascii=False)


def config_map(environment: str, config: str) -> Doc:
    name = config_name(environment)
    cm = {"name": name, "namespace": NAMESPACE, "labels": {**LABELS, "rollouts.dev/environment": environment},
          "config": config}
    return Doc("infrastructure/analysis-controller/configmap.yaml.j2", {"cm": cm},
               Expected("v1", "ConfigMap", name, NAMESPACE))


def environment_configs(entries: Mapping[str, dict[str, Any]], environments: tuple[str, ...]) -> dict[str, str]:
    """Each environment's config.json from its services' entries ("<env>/<service>" -> :func:`service_config`);
    an environment without services gets a config with no services."""
    sections: dict[str, dict[str, dict[str, Any]]] = {env: {} for env in environments}
    for key, entry in sorted(entries.items()):
        targets = entry.get("targets") or {}
        sections.setdefault(key.split("/", 1)[0], {})[f"{targets.get('namespace')}/{entry.get('service')}"] = entry
    return {env: environment_config(env, sections[env]) for env in sections}


def layer_context(options: RenderOptions, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    """What the layer's templates read; ``secrets``: the Secrets (in flagger-system) the services' configs
    reference, each mounted at /etc/rollouts/secrets/<name>."""
    environments = options.environments
    return {"name": NAME, "namespace": NAMESPACE, "labels": LABELS, "selector": SELECTOR,
            "image": options.controller_image, "webhook_port": WEBHOOK_PORT, "operator_port": OPERATOR_PORT,
            "metrics_port": METRICS_PORT,
            "configs": [{"env": env, "volume": f"config-{env}"[:63], "configMap": config_name(env),
                         "path": f"{CONFIG_DIR}/{env}"} for env in environments],
            "secrets": [{"name": s, "volume": f"secret-{hashlib.sha256(s.encode()).hexdigest()[:12]}",
                         "path": f"{SECRETS_DIR}/{s}"} for s in sorted(set(secrets))],
            "states": [state_name(env) for env in environments],
            "config_dir": CONFIG_DIR, "secrets_dir": SECRETS_DIR, "signing_dir": SIGNING_DIR,
            "data_dir": DATA_DIR, "signing_secret": SIGNING_SECRET,
            "flagger_account": FLAGGER_ACCOUNT, "operator_account": OPERATOR_ACCOUNT}


def statefulset(options: RenderOptions, secrets: tuple[str, ...] = ()) -> Doc:
    """The StatefulSet and its PodDisruptionBudget. The render writes it again among the derived files, from every
    service's config, so that it mounts each Secret a config references (render/derived.py)."""
    return Doc("infrastructure/analysis-controller/statefulset.yaml.j2", layer_context(options, secrets),
               Expected("apps/v1", "StatefulSet", NAME, NAMESPACE),
               (Expected("policy/v1", "PodDisruptionBudget", NAME, NAMESPACE),))


def referenced_secrets(entries: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...]:
    """The Secrets the services' config entries name: probe headers and notification HMAC keys."""
    names: set[str] = set()
    for entry in entries.values():
        for flow in (entry.get("probes") or {}).get("flows") or []:
            for step in flow.get("steps") or []:
                names.update(ref["secret"] for ref in (step.get("headersFromSecrets") or {}).values())
        names.update(n["secret"]["secret"] for n in entry.get("notifications") or [])
    return tuple(sorted(names))


def analysis_controller(options: RenderOptions) -> Layer:
    """The controller's layer, after Flagger (whose namespace it runs in and whose ServiceAccount it admits)."""
    context = layer_context(options)

    def doc(template: str, kind: str, api: str, name: str = NAME, more: tuple[Expected, ...] = ()) -> Doc:
        return Doc(f"infrastructure/analysis-controller/{template}", context, Expected(api, kind, name, NAMESPACE),
                   more)

    files = {
        "rbac.yaml": [doc("rbac.yaml.j2", "ServiceAccount", "v1", more=(
            Expected("v1", "ServiceAccount", OPERATOR_ACCOUNT, NAMESPACE),
            Expected("rbac.authorization.k8s.io/v1", "Role", NAME, NAMESPACE),
            Expected("rbac.authorization.k8s.io/v1", "RoleBinding", NAME, NAMESPACE),
            Expected("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", f"{NAME}-auth-delegator", "")))],
        "statefulset.yaml": [statefulset(options)],
        "service.yaml": [doc("service.yaml.j2", "Service", "v1")],
        "policy.yaml": [doc("policy.yaml.j2", "Server", "policy.linkerd.io/v1beta3", f"{NAME}-webhooks", more=(
            Expected("policy.linkerd.io/v1alpha1", "MeshTLSAuthentication", f"{NAME}-flagger", NAMESPACE),
            Expected("policy.linkerd.io/v1alpha1", "AuthorizationPolicy", f"{NAME}-webhooks-from-flagger",
                     NAMESPACE),
            Expected("policy.linkerd.io/v1beta3", "Server", f"{NAME}-operator", NAMESPACE),
            Expected("policy.linkerd.io/v1alpha1", "MeshTLSAuthentication", f"{NAME}-operators", NAMESPACE),
            Expected("policy.linkerd.io/v1alpha1", "AuthorizationPolicy", f"{NAME}-operator-from-operators",
                     NAMESPACE),
            Expected("policy.linkerd.io/v1beta3", "Server", f"{NAME}-metrics", NAMESPACE)))],
    }
    return Layer(flux_kustomization(NAME, f"./{DIRECTORY}", ("flagger",), options.repo_name), DIRECTORY, files)


def config_kustomization_name(environment: str) -> str:
    return object_name(f"{NAME}-{environment}")


def config_kustomization(environment: str, source: str = RenderOptions.repo_name) -> Doc:
    """The Flux Kustomization applying one environment's controller config (flux/apps/<env>/analysis-controller),
    after Flagger (its namespace); no targetNamespace, so the ConfigMap stays in flagger-system."""
    return flux_kustomization(config_kustomization_name(environment), f"./flux/apps/{environment}/{NAME}",
                              ("flagger",), source, timeout="2m")


__all__ = [
    "DIRECTORY",
    "NAME",
    "NAMESPACE",
    "analysis_controller",
    "config_kustomization",
    "config_kustomization_name",
    "config_map",
    "config_name",
    "environment_configs",
    "referenced_secrets",
    "service_config",
    "statefulset",
]
