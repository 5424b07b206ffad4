"""From one resolved spec (one service in one environment) to the documents of flux/apps/<env>/<service>/.

Everything the templates print is computed here as plain data; the templates only lay it out. Each object also
gets origin hints: JSON pointers inside the object mapped to the spec path they come from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, NamedTuple

from ..durations import milliseconds
from ..spec.resolve import deep_merge
from .engine import Doc, Expected

PROMETHEUS = "http://prometheus.linkerd-viz:9090"
LOADTESTER = "http://flagger-loadtester.flagger-system/"
LOADTESTER_SA = ("flagger-loadtester", "flagger-system")
SELECTOR_LABEL = "app.kubernetes.io/instance"
# Labels Flagger may use as its selector (flag -selector-labels, cmd/flagger/main.go): it renames their value to
# <value>-primary on the primary pods, so a policy or PDB selecting on one of them must list both values.
FLAGGER_SELECTOR_LABELS = ("app", "name", "app.kubernetes.io/name")
CLUSTER_DOMAIN = "cluster.local"
HOME_ENVIRONMENT = "production"
# What `helm test` (helm v3, pkg/action/release_testing.go and hooks.go) does in the release namespace: read the
# release history (list Secrets owner=helm) and record the test run (update that Secret); create the test hooks
# (Pods, or Jobs), watch them until they finish, delete them by their hook-delete-policy (get until gone), and read
# the hook logs when the chart asks for them (helm.sh/hook-output-log-policy).
HELM_TEST_RULES: tuple[dict[str, Any], ...] = (
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "update"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
)

SUCCESS_RATE = (
    'sum(rate(response_total{namespace="{{ namespace }}", deployment=~"{{ target }}", classification!="failure", '
    'direction="{{ variables.direction }}"}[{{ interval }}])) / sum(rate(response_total{namespace="{{ namespace }}", '
    'deployment=~"{{ target }}", direction="{{ variables.direction }}"}[{{ interval }}])) * 100'
)
LATENCY = (
    'histogram_quantile({quantile}, sum(rate(response_latency_ms_bucket{{namespace="{{{{ namespace }}}}", '
    'deployment=~"{{{{ target }}}}", direction="{{{{ variables.direction }}}}"}}[{{{{ interval }}}}])) by (le))'
)

Origin = dict[str, tuple[str | int, ...]]


def namespace_for(namespace: str, environment: str) -> str:
    """The Kubernetes namespace of a service in an environment: <namespace> in production, else <namespace>-<env>."""
    return namespace if environment == HOME_ENVIRONMENT else f"{namespace}-{environment}"


def cookie_regex(name: str, value: str) -> str:
    """Flagger's cookie match on the ``cookie`` header (names and values are [A-Za-z0-9_.-])."""
    return "^(.*?;)?(" + re.escape(name) + "=" + re.escape(value) + ")(;.*)?$"


def substitute_canary_url(cmd: str, url: str) -> str:
    """An acceptance test may write CANARY_URL for the canary Service's URL."""
    return cmd.replace("CANARY_URL", url)


def per_worker_rate(rps: int, concurrency: int) -> str:
    """hey's -q is the rate of each of the -c workers (a float, rakyll/hey hey.go), so the total is rps when each
    worker gets rps / concurrency: 15 rps over 2 workers is -q 7.5 (never rounded up to 8, i.e. 16 rps)."""
    share = Fraction(rps, concurrency)
    return str(share.numerator) if share.denominator == 1 else f"{float(share):.6g}"


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
    key is missing, and only logs it: pkg/controller/events.go). Sorted by namespace and name."""
    import yaml

    found = []
    for path, text in files.items():
        if not path.endswith("/alerts.yaml"):
            continue
        for doc in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if isinstance(doc, dict) and doc.get("kind") == "AlertProvider":
                meta, ref = doc["metadata"], doc["spec"].get("secretRef") or {}
                if ref.get("name"):
                    found.append(UserSecret(str(meta["namespace"]), str(ref["name"]), ("address",),
                                            f"AlertProvider/{meta['name']}"))
    return sorted(found)


def _chart(name: str, chart: dict[str, Any]) -> dict[str, Any]:
    url = str(chart["repository"])
    version = str(chart["version"])
    oci = url.startswith("oci://")
    exact = re.fullmatch(r"v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?", version) is not None
    chart_name = chart.get("name") or url.rstrip("/").rsplit("/", 1)[-1]
    return {"oci": oci, "url": url, "version": version, "ref_kind": "tag" if exact else "semver",
            "name": chart_name, "kind": "OCIRepository" if oci else "HelmRepository"}


def _match(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    headers = dict(item.get("headers") or {})
    cookie = item.get("cookie")
    if cookie:
        headers["cookie"] = {"regex": cookie_regex(str(cookie["name"]), str(cookie["value"]))}
    if headers:
        out["headers"] = headers
    if item.get("queryParams"):
        out["queryParams"] = dict(item["queryParams"])
    return out


def service_documents(resolved: dict[str, Any], selector_label: str = SELECTOR_LABEL,
                      ) -> tuple[dict[str, list[Doc]], dict[str, Origin], str]:
    """The files of one service in one environment (name -> documents), origin hints per object
    ("Kind/namespace/name" -> {pointer: spec path}), and the Kubernetes namespace.

    ``selector_label`` is the pod label, with the service name as value, that the chart puts on every pod (the
    Server and the PodDisruptionBudget select on it); one of Flagger's selector labels is matched with both
    values, <name> and <name>-primary."""
    meta = resolved["metadata"]
    env = resolved["environment"]
    spec = resolved["spec"]
    name = str(meta["name"])
    namespace = namespace_for(str(meta["namespace"]), env)
    workload = spec["workload"]
    strategy = spec["strategy"]
    slo = spec.get("slo") or {}
    gates = spec.get("gates") or {}
    port = int(workload["port"])
    autoscaling = workload.get("autoscaling")
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/managed-by": "rollouts",
        "app.kubernetes.io/part-of": name,
        "rollouts.dev/environment": env,
        "rollouts.dev/owner": str(meta.get("owner", "")),
    }
    chart = _chart(name, workload["chart"])
    canary_url = f"http://{name}-canary.{namespace}:{port}"

    values: dict[str, Any] = dict(workload.get("values") or {})
    generated: dict[str, Any] = {"fullnameOverride": name}
    if workload.get("image"):
        generated["image"] = {"repository": workload["image"]["repository"], "tag": workload["image"]["tag"]}
    if autoscaling:
        values.pop("replicaCount", None)
    else:
        generated["replicaCount"] = int(workload["replicas"])
    values = deep_merge(values, generated)

    metrics: list[dict[str, Any]] = []
    templates: list[dict[str, Any]] = []
    if "successRate" in slo:
        metrics.append({"name": "success-rate", "template": f"{name}-success-rate",
                        "thresholdRange": {"min": slo["successRate"]}, "interval": str(slo["interval"]),
                        "variables": {"direction": "inbound"}, "origin": ("spec", "slo", "successRate")})
        templates.append({"template": f"{name}-success-rate", "address": PROMETHEUS, "query": SUCCESS_RATE,
                          "origin": ("spec", "slo", "successRate")})
    for key, quantile in (("latencyP99", "0.99"), ("latencyP95", "0.95")):
        if key in slo:
            metric = "latency-" + key[-3:].lower()
            metrics.append({"name": metric, "template": f"{name}-{metric}",
                            "thresholdRange": {"max": milliseconds(str(slo[key]))}, "interval": str(slo["interval"]),
                            "variables": {"direction": "inbound"}, "origin": ("spec", "slo", key)})
            templates.append({"template": f"{name}-{metric}", "address": PROMETHEUS,
                              "query": LATENCY.format(quantile=quantile), "origin": ("spec", "slo", key)})
    for i, custom in enumerate(spec.get("metrics") or []):
        bounds = {k: custom[k] for k in ("min", "max") if k in custom}
        metrics.append({"name": custom["name"], "template": f"{name}-{custom['name']}", "thresholdRange": bounds,
                        "interval": custom["interval"], "variables": custom.get("variables") or {},
                        "origin": ("spec", "metrics", i)})
        templates.append({"template": f"{name}-{custom['name']}", "address": custom.get("address", PROMETHEUS),
                          "query": custom["query"], "origin": ("spec", "metrics", i)})

    webhooks: list[dict[str, Any]] = []
    approval = gates.get("manualApproval") or {}
    runbook = {"runbook": approval["runbook"]} if approval.get("runbook") else {}
    # The loadtester keeps a gate open until it is closed (pkg/loadtester/gate.go, keyed <name>.<namespace> from
    # the webhook payload): close it after every rollout, and between the two approvals when both are asked for.
    closing = bool(approval.get("beforeRollout") or approval.get("beforePromotion")) and bool(
        approval["closeAfterRollout"])
    close_origin = ("gates", "manualApproval", "closeAfterRollout")
    if approval.get("beforeRollout"):
        webhooks.append({"name": "approve-rollout", "type": "confirm-rollout", "url": LOADTESTER + "gate/check",
                         "timeout": None, "metadata": runbook, "origin": ("gates", "manualApproval")})
    if closing and approval.get("beforeRollout") and approval.get("beforePromotion"):
        webhooks.append({"name": "close-gate-for-promotion", "type": "pre-rollout", "url": LOADTESTER + "gate/close",
                         "timeout": None, "metadata": {}, "origin": close_origin})
    helm_test = gates.get("helmTest")
    if helm_test is not None:
        webhooks.append({"name": "helm-test", "type": "pre-rollout", "url": LOADTESTER,
                         "timeout": helm_test["timeout"],
                         "metadata": {"type": "helmv3", "cmd": f"test {name} -n {namespace}"},
                         "origin": ("gates", "helmTest")})
    if "acceptanceTest" in gates:
        test = gates["acceptanceTest"]
        webhooks.append({"name": "acceptance-test", "type": "pre-rollout", "url": LOADTESTER,
                         "timeout": test["timeout"],
                         "metadata": {"type": "bash", "cmd": substitute_canary_url(str(test["cmd"]), canary_url)},
                         "origin": ("gates", "acceptanceTest")})
    if "loadTest" in gates:
        load = gates["loadTest"] or {}
        rps, concurrency = int(load["rps"]), int(load["concurrency"])
        cmd = (f"hey -z {strategy['interval']} -q {per_worker_rate(rps, concurrency)} -c {concurrency} "
               f"{canary_url}{load.get('path', '/')}")
        webhooks.append({"name": "load-test", "type": "rollout", "url": LOADTESTER,
                         "timeout": load["timeout"], "metadata": {"cmd": cmd},
                         "origin": ("gates", "loadTest")})
    if approval.get("beforePromotion"):
        webhooks.append({"name": "approve-promotion", "type": "confirm-promotion", "url": LOADTESTER + "gate/check",
                         "timeout": None, "metadata": runbook, "origin": ("gates", "manualApproval")})
    if closing:
        webhooks.append({"name": "close-gate", "type": "post-rollout", "url": LOADTESTER + "gate/close",
                         "timeout": None, "metadata": {}, "origin": close_origin})

    alerts = [{"name": a["name"], "severity": a["severity"], "provider": f"{name}-{a['name']}",
               "type": a["type"], "channel": a.get("channel"), "secretRef": a["secretRef"], "index": i}
              for i, a in enumerate(spec.get("alerts") or [])]

    affinity = strategy.get("sessionAffinity")
    canary = {
        "type": strategy["type"], "provider": strategy["provider"],
        "progressDeadlineSeconds": milliseconds(str(strategy["progressDeadline"])) // 1000,
        "skipAnalysis": bool(strategy.get("skipAnalysis")), "timeout": strategy.get("timeout"),
        "interval": strategy["interval"], "threshold": strategy["threshold"],
        "steps": strategy.get("steps") or [], "iterations": strategy.get("iterations"),
        "match": [_match(m) for m in strategy.get("match") or []],
        "mirror": bool(strategy.get("mirror")), "sessionAffinity": dict(affinity) if affinity else None,
    }
    # Flagger's one HTTPRoute carries every parent (pkg/router/gateway_api_v1beta1.go: parentRefs = gatewayRefs,
    # hostnames = hosts): the mesh Service for east-west traffic, and the ingress Gateway, which then splits
    # north-south traffic itself. Linkerd applies the hostnames to the Service parent too (the proxy matches the
    # request's host), so the Service's in-cluster names are listed with the public ones.
    ingress = spec.get("ingress")
    parents: list[dict[str, Any]] = [{"name": name, "namespace": namespace, "group": "core", "kind": "Service",
                                      "port": port}]
    hosts: list[str] = []
    auths: list[dict[str, Any]] = [{"name": f"{name}-meshed-clients", "kind": "MeshTLSAuthentication",
                                    "identities": ["*"], "origin": ("metadata",)}]
    if ingress:
        gateway = ingress["gateway"]
        parents.append({"name": gateway["name"], "namespace": gateway["namespace"],
                        "group": "gateway.networking.k8s.io", "kind": "Gateway",
                        **({"sectionName": gateway["sectionName"]} if "sectionName" in gateway else {})})
        local = [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.{CLUSTER_DOMAIN}"]
        hosts = [*ingress["hosts"], *(h for h in local if h not in ingress["hosts"])]
        # A meshed gateway calls with its mesh identity, which the meshed-clients policy admits; an unmeshed one has
        # none, and accessPolicy: deny answers it 403 unless its networks are authorized.
        if not ingress.get("meshedGateway") and gateway.get("networks"):
            auths.append({"name": f"{name}-gateway", "kind": "NetworkAuthentication",
                          "networks": list(gateway["networks"]), "origin": ("spec", "ingress", "gateway", "networks")})

    ctx: dict[str, Any] = {
        "name": name, "namespace": namespace, "labels": labels, "selector": pod_selector(selector_label, name),
        "port": port, "port_name": workload["portName"], "autoscaling": autoscaling,
        "max_unavailable": (workload.get("disruptionBudget") or {}).get("maxUnavailable", 1),
        "chart": chart, "values": values, "canary": canary, "metrics": metrics, "webhooks": webhooks,
        "alerts": alerts, "parents": parents, "hosts": hosts,
        "proxy_protocol": "gRPC" if workload.get("portName") == "grpc" else None,
    }

    def ident(api: str, kind: str, obj: str) -> Expected:
        return Expected(api, kind, obj, namespace)

    files: dict[str, list[Doc]] = {}
    origins: dict[str, Origin] = {}

    def add(file: str, template: str, context: dict[str, Any], expected: Expected, origin: Origin) -> None:
        files.setdefault(file, []).append(Doc(template, context, expected))
        origins[f"{expected.kind}/{expected.namespace}/{expected.name}"] = origin

    wl: tuple[str, ...] = ("spec", "workload")
    add("release.yaml", f"apps/{chart['kind'].lower()}.yaml.j2", ctx,
        ident("source.toolkit.fluxcd.io/v1", chart["kind"], name),
        {"": (*wl, "chart"), "/spec/url": (*wl, "chart", "repository"), "/spec/ref": (*wl, "chart", "version")})
    add("release.yaml", "apps/helmrelease.yaml.j2", ctx, ident("helm.toolkit.fluxcd.io/v2", "HelmRelease", name),
        {"": wl, "/spec/values": (*wl, "values"), "/spec/chart/spec/version": (*wl, "chart", "version"),
         "/spec/values/image": (*wl, "image"), "/spec/values/replicaCount": (*wl, "replicas")})
    if autoscaling:
        add("autoscaling.yaml", "apps/hpa.yaml.j2", ctx,
            ident("autoscaling/v2", "HorizontalPodAutoscaler", name),
            {"": (*wl, "autoscaling"), "/spec/minReplicas": (*wl, "autoscaling", "minReplicas"),
             "/spec/maxReplicas": (*wl, "autoscaling", "maxReplicas")})
    add("autoscaling.yaml", "apps/pdb.yaml.j2", ctx, ident("policy/v1", "PodDisruptionBudget", name),
        {"": (*wl, "disruptionBudget")})
    st: tuple[str, ...] = ("spec", "strategy")
    canary_origin: Origin = {
        "": st, "/spec/provider": (*st, "provider"), "/spec/analysis/interval": (*st, "interval"),
        "/spec/analysis/threshold": (*st, "threshold"), "/spec/analysis/stepWeights": (*st, "steps"),
        "/spec/analysis/iterations": (*st, "iterations"), "/spec/analysis/match": (*st, "match"),
        "/spec/progressDeadlineSeconds": (*st, "progressDeadline"), "/spec/service/port": (*wl, "port"),
        "/spec/service/timeout": (*st, "timeout"), "/spec/analysis/sessionAffinity": (*st, "sessionAffinity"),
    }
    if ingress:
        canary_origin["/spec/service/gatewayRefs/1"] = ("spec", "ingress", "gateway")
        canary_origin["/spec/service/hosts"] = ("spec", "ingress", "hosts")
    for i, m in enumerate(metrics):
        canary_origin[f"/spec/analysis/metrics/{i}"] = m["origin"]
    for i, w in enumerate(webhooks):
        canary_origin[f"/spec/analysis/webhooks/{i}"] = ("spec", *w["origin"])
    for i, a in enumerate(alerts):
        canary_origin[f"/spec/analysis/alerts/{i}"] = ("spec", "alerts", a["index"])
    add("canary.yaml", "apps/canary.yaml.j2", ctx, ident("flagger.app/v1beta1", "Canary", name), canary_origin)
    for t in templates:
        q = (*t["origin"], "query") if t["origin"][1] == "metrics" else t["origin"]
        add("metrics.yaml", "apps/metrictemplate.yaml.j2", {**ctx, "metric": t},
            ident("flagger.app/v1beta1", "MetricTemplate", t["template"]), {"": t["origin"], "/spec/query": q})
    for a in alerts:
        add("alerts.yaml", "apps/alertprovider.yaml.j2", {**ctx, "alert": a},
            ident("flagger.app/v1beta1", "AlertProvider", a["provider"]), {"": ("spec", "alerts", a["index"])})
    if helm_test is not None and helm_test["grantRBAC"]:
        rbac_origin: Origin = {"": ("spec", "gates", "helmTest", "grantRBAC")}
        rbac = {**ctx, "role": f"{name}-helm-test", "rules": list(HELM_TEST_RULES),
                "subject": {"name": LOADTESTER_SA[0], "namespace": LOADTESTER_SA[1]}}
        add("rbac.yaml", "apps/role.yaml.j2", rbac, ident("rbac.authorization.k8s.io/v1", "Role", rbac["role"]),
            rbac_origin)
        add("rbac.yaml", "apps/rolebinding.yaml.j2", rbac,
            ident("rbac.authorization.k8s.io/v1", "RoleBinding", rbac["role"]), rbac_origin)
    add("policy.yaml", "apps/server.yaml.j2", ctx, ident("policy.linkerd.io/v1beta3", "Server", name),
        {"": (*wl, "port"), "/spec/port": (*wl, "port")})
    for auth in auths:
        add("policy.yaml", f"apps/{auth['kind'].lower()}.yaml.j2", {**ctx, "auth": auth},
            ident("policy.linkerd.io/v1alpha1", auth["kind"], str(auth["name"])), {"": auth["origin"]})
        add("policy.yaml", "apps/authorizationpolicy.yaml.j2", {**ctx, "auth": auth},
            ident("policy.linkerd.io/v1alpha1", "AuthorizationPolicy", str(auth["name"])), {"": auth["origin"]})
    files["kustomization.yaml"] = [kustomization(sorted(files))]
    return files, origins, namespace


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
